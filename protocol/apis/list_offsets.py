"""ListOffsets (key 2), versions 1-11.

Our declaration of Kafka's ListOffsetsRequest/Response fields. v1 (our floor) returns a single
timestamp/offset pair per partition; v2 adds the isolation level and throttle time; v4 the
leader epochs; v6 is the first flexible version; v7, v8, v9 and v11 allow the max-timestamp (-3),
earliest-local (-4), latest-tiered (-5) and earliest-pending-upload (-6) queries (same wire shape);
v10 adds the request's timeout for tiered-storage lookups.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

LIST_OFFSETS = register(
    declare(
        2,
        "ListOffsets",
        versions=(1, 11),
        flexible="6+",
        request=[
            F("replica_id", "int32"),
            F("isolation_level", "int8", "2+"),
            F(
                "topics",
                "[]ListOffsetsTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]ListOffsetsPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("current_leader_epoch", "int32", "4+", default=-1, ignorable=True),
                    F("timestamp", "int64"),
                ),
            ),
            F("timeout_ms", "int32", "10+", ignorable=True),
        ],
        response=[
            F("throttle_time_ms", "int32", "2+", ignorable=True),
            F(
                "topics",
                "[]ListOffsetsTopicResponse",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]ListOffsetsPartitionResponse",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("timestamp", "int64", "1+", default=-1),
                    F("offset", "int64", "1+", default=-1),
                    F("leader_epoch", "int32", "4+", default=-1),
                ),
            ),
        ],
    )
)
