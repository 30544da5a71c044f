"""DescribeTopicPartitions (key 75), version 0.

Our declaration of Kafka's DescribeTopicPartitionsRequest/Response fields (KIP-966, Kafka 3.8+);
flexible from v0. The cursor, in the request and the response, is a nullable struct.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, Field, declare


def _cursor(name: str) -> Field:
    """Where a page starts (request) or the next one would (response): a topic and a partition."""
    return F(
        name,
        "Cursor",
        "0+",
        F("topic_name", "string"),
        F("partition_index", "int32"),
        nullable="0+",
        default=None,
    )


DESCRIBE_TOPIC_PARTITIONS = register(
    declare(
        75,
        "DescribeTopicPartitions",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("topics", "[]TopicRequest", "0+", F("name", "string")),
            F("response_partition_limit", "int32", default=2000),
            _cursor("cursor"),
        ],
        response=[
            F("throttle_time_ms", "int32", ignorable=True),
            F(
                "topics",
                "[]DescribeTopicPartitionsResponseTopic",
                "0+",
                F("error_code", "int16"),
                F("name", "string", nullable="0+"),
                F("topic_id", "uuid", ignorable=True),
                F("is_internal", "bool", default=False, ignorable=True),
                F(
                    "partitions",
                    "[]DescribeTopicPartitionsResponsePartition",
                    "0+",
                    F("error_code", "int16"),
                    F("partition_index", "int32"),
                    F("leader_id", "int32"),
                    F("leader_epoch", "int32", default=-1, ignorable=True),
                    F("replica_nodes", "[]int32"),
                    F("isr_nodes", "[]int32"),
                    F("eligible_leader_replicas", "[]int32", nullable="0+", default=None),
                    F("last_known_elr", "[]int32", nullable="0+", default=None),
                    F("offline_replicas", "[]int32", ignorable=True),
                ),
                F("topic_authorized_operations", "int32", default=-2147483648),
            ),
            _cursor("next_cursor"),
        ],
    )
)
