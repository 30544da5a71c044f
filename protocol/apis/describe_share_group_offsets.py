"""DescribeShareGroupOffsets (key 90), versions 0-1.

Our declaration of Kafka's DescribeShareGroupOffsetsRequest/Response fields (KIP-932): each
share-partition's start offset; v1 adds its lag (KIP-1226). Null topics describe every topic the
group has state for. Every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_SHARE_GROUP_OFFSETS = register(
    declare(
        90,
        "DescribeShareGroupOffsets",
        versions=(0, 1),
        flexible="0+",
        request=[
            F(
                "groups",
                "[]DescribeShareGroupOffsetsRequestGroup",
                "0+",
                F("group_id", "string"),
                F(
                    "topics",
                    "[]DescribeShareGroupOffsetsRequestTopic",
                    "0+",
                    F("topic_name", "string"),
                    F("partitions", "[]int32"),
                    nullable="0+",
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "groups",
                "[]DescribeShareGroupOffsetsResponseGroup",
                "0+",
                F("group_id", "string"),
                F(
                    "topics",
                    "[]DescribeShareGroupOffsetsResponseTopic",
                    "0+",
                    F("topic_name", "string"),
                    F("topic_id", "uuid"),
                    F(
                        "partitions",
                        "[]DescribeShareGroupOffsetsResponsePartition",
                        "0+",
                        F("partition_index", "int32"),
                        F("start_offset", "int64"),
                        F("leader_epoch", "int32"),
                        F("lag", "int64", "1+", default=-1, ignorable=True),
                        F("error_code", "int16"),
                        F("error_message", "string", nullable="0+", default=None),
                    ),
                ),
                F("error_code", "int16"),
                F("error_message", "string", nullable="0+", default=None),
            ),
        ],
    )
)
