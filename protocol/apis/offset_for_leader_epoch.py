"""OffsetForLeaderEpoch (key 23), versions 2-4.

Our declaration of Kafka's OffsetForLeaderEpochRequest/Response fields. v2 (our floor) carries
the current leader epoch and throttle time; v3 adds the requesting replica id; v4 is the first
flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

OFFSET_FOR_LEADER_EPOCH = register(
    declare(
        23,
        "OffsetForLeaderEpoch",
        versions=(2, 4),
        flexible="4+",
        request=[
            F("replica_id", "int32", "3+", default=-2, ignorable=True),
            F(
                "topics",
                "[]OffsetForLeaderTopic",
                "0+",
                F("topic", "string"),
                F(
                    "partitions",
                    "[]OffsetForLeaderPartition",
                    "0+",
                    F("partition", "int32"),
                    F("current_leader_epoch", "int32", "2+", default=-1, ignorable=True),
                    F("leader_epoch", "int32"),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32", "2+", ignorable=True),
            F(
                "topics",
                "[]OffsetForLeaderTopicResult",
                "0+",
                F("topic", "string"),
                F(
                    "partitions",
                    "[]EpochEndOffset",
                    "0+",
                    F("error_code", "int16"),
                    F("partition", "int32"),
                    F("leader_epoch", "int32", "1+", default=-1, ignorable=True),
                    F("end_offset", "int64", "0+", default=-1),
                ),
            ),
        ],
    )
)
