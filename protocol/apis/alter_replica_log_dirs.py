"""AlterReplicaLogDirs (key 34), versions 1-2.

Our declaration of Kafka's AlterReplicaLogDirsRequest/Response fields, from v1 (Kafka 4's floor).
v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ALTER_REPLICA_LOG_DIRS = register(
    declare(
        34,
        "AlterReplicaLogDirs",
        versions=(1, 2),
        flexible="2+",
        request=[
            F(
                "dirs",
                "[]AlterReplicaLogDir",
                "0+",
                F("path", "string"),
                F(
                    "topics",
                    "[]AlterReplicaLogDirTopic",
                    "0+",
                    F("name", "string"),
                    F("partitions", "[]int32"),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]AlterReplicaLogDirTopicResult",
                "0+",
                F("topic_name", "string"),
                F(
                    "partitions",
                    "[]AlterReplicaLogDirPartitionResult",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                ),
            ),
        ],
    )
)
