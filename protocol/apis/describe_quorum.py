"""DescribeQuorum (key 55), versions 0-2.

Our declaration of Kafka's DescribeQuorumRequest/Response fields. Flexible from v0; v1 adds the
replicas' last fetch and caught-up times; v2 (KIP-853) error messages, replica directory ids and
the voters' endpoints (nodes).
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, Field, declare


def _replica_state(name: str) -> Field:
    """Kafka's common struct ReplicaState, used by both voter and observer lists."""
    return F(
        name,
        "[]ReplicaState",
        "0+",
        F("replica_id", "int32"),
        F("replica_directory_id", "uuid", "2+"),
        F("log_end_offset", "int64"),
        F("last_fetch_timestamp", "int64", "1+", default=-1, ignorable=True),
        F("last_caught_up_timestamp", "int64", "1+", default=-1, ignorable=True),
    )


DESCRIBE_QUORUM = register(
    declare(
        55,
        "DescribeQuorum",
        versions=(0, 2),
        flexible="0+",
        request=[
            F(
                "topics",
                "[]TopicData",
                "0+",
                F("topic_name", "string"),
                F("partitions", "[]PartitionData", "0+", F("partition_index", "int32")),
            ),
        ],
        response=[
            F("error_code", "int16"),
            F("error_message", "string", "2+", nullable="2+", default=None, ignorable=True),
            F(
                "topics",
                "[]TopicData",
                "0+",
                F("topic_name", "string"),
                F(
                    "partitions",
                    "[]PartitionData",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", "2+", nullable="2+", default=None, ignorable=True),
                    F("leader_id", "int32"),
                    F("leader_epoch", "int32"),
                    F("high_watermark", "int64"),
                    _replica_state("current_voters"),
                    _replica_state("observers"),
                ),
            ),
            F(
                "nodes",
                "[]Node",
                "2+",
                F("node_id", "int32", "2+"),
                F(
                    "listeners",
                    "[]Listener",
                    "2+",
                    F("name", "string", "2+"),
                    F("host", "string", "2+"),
                    F("port", "uint16", "2+"),
                ),
            ),
        ],
    )
)
