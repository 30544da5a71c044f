"""AlterPartitionReassignments (key 45), versions 0-1.

Our declaration of Kafka's AlterPartitionReassignmentsRequest/Response fields. Flexible from v0;
v1 (KIP-860) adds whether a reassignment may change a partition's replication factor.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ALTER_PARTITION_REASSIGNMENTS = register(
    declare(
        45,
        "AlterPartitionReassignments",
        versions=(0, 1),
        flexible="0+",
        request=[
            F("timeout_ms", "int32", default=60000),
            F("allow_replication_factor_change", "bool", "1+", default=True),
            F(
                "topics",
                "[]ReassignableTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]ReassignablePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("replicas", "[]int32", nullable="0+", default=None),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("allow_replication_factor_change", "bool", "1+", default=True, ignorable=True),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F(
                "responses",
                "[]ReassignableTopicResponse",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]ReassignablePartitionResponse",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", nullable="0+", default=None),
                ),
            ),
        ],
    )
)
