"""ElectLeaders (key 43), versions 0-2.

Our declaration of Kafka's ElectLeadersRequest/Response fields. v1 adds the election type to the
request and a top-level error code to the response; v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ELECT_LEADERS = register(
    declare(
        43,
        "ElectLeaders",
        versions=(0, 2),
        flexible="2+",
        request=[
            F("election_type", "int8", "1+"),
            F(
                "topic_partitions",
                "[]TopicPartitions",
                "0+",
                F("topic", "string"),
                F("partitions", "[]int32"),
                nullable="0+",
            ),
            F("timeout_ms", "int32", default=60000),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16", "1+"),
            F(
                "replica_election_results",
                "[]ReplicaElectionResult",
                "0+",
                F("topic", "string"),
                F(
                    "partition_result",
                    "[]PartitionResult",
                    "0+",
                    F("partition_id", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", nullable="0+", default=None),
                ),
            ),
        ],
    )
)
