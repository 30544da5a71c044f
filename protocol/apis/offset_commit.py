"""OffsetCommit (key 8), versions 2-9.

Our declaration of Kafka's OffsetCommitRequest/Response fields. v2 (our floor) carries a retention
time, dropped again in v5; v3 adds the throttle time, v6 the committed leader epoch, v7 the group
instance id, v8 is the first flexible version, and v9 (same fields) carries a consumer-protocol member
epoch in generation_id_or_member_epoch.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

OFFSET_COMMIT = register(
    declare(
        8,
        "OffsetCommit",
        versions=(2, 9),
        flexible="8+",
        request=[
            F("group_id", "string"),
            F("generation_id_or_member_epoch", "int32", "1+", default=-1, ignorable=True),
            F("member_id", "string", "1+", ignorable=True),
            F("group_instance_id", "string", "7+", nullable="7+", default=None),
            F("retention_time_ms", "int64", "2-4", default=-1, ignorable=True),
            F(
                "topics",
                "[]OffsetCommitRequestTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]OffsetCommitRequestPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("committed_offset", "int64"),
                    F("committed_leader_epoch", "int32", "6+", default=-1, ignorable=True),
                    F("committed_metadata", "string", nullable="0+"),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32", "3+", ignorable=True),
            F(
                "topics",
                "[]OffsetCommitResponseTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]OffsetCommitResponsePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                ),
            ),
        ],
    )
)
