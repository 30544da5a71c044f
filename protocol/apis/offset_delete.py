"""OffsetDelete (key 47), version 0.

Our declaration of Kafka's OffsetDeleteRequest/Response fields: a group's committed offsets of
some partitions are removed, answered per partition under a top-level error. Never flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

OFFSET_DELETE = register(
    declare(
        47,
        "OffsetDelete",
        versions=(0, 0),
        flexible="none",
        request=[
            F("group_id", "string"),
            F(
                "topics",
                "[]OffsetDeleteRequestTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]OffsetDeleteRequestPartition",
                    "0+",
                    F("partition_index", "int32"),
                ),
            ),
        ],
        response=[
            F("error_code", "int16"),
            F("throttle_time_ms", "int32", ignorable=True),
            F(
                "topics",
                "[]OffsetDeleteResponseTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]OffsetDeleteResponsePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                ),
            ),
        ],
    )
)
