"""AlterShareGroupOffsets (key 91), version 0.

Our declaration of Kafka's AlterShareGroupOffsetsRequest/Response fields (KIP-932): set the start
offset of an empty share group's share-partitions. Every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ALTER_SHARE_GROUP_OFFSETS = register(
    declare(
        91,
        "AlterShareGroupOffsets",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("group_id", "string"),
            F(
                "topics",
                "[]AlterShareGroupOffsetsRequestTopic",
                "0+",
                F("topic_name", "string"),
                F(
                    "partitions",
                    "[]AlterShareGroupOffsetsRequestPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("start_offset", "int64"),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F(
                "responses",
                "[]AlterShareGroupOffsetsResponseTopic",
                "0+",
                F("topic_name", "string"),
                F("topic_id", "uuid"),
                F(
                    "partitions",
                    "[]AlterShareGroupOffsetsResponsePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", nullable="0+", default=None),
                ),
            ),
        ],
    )
)
