"""ListPartitionReassignments (key 46), version 0.

Our declaration of Kafka's ListPartitionReassignmentsRequest/Response fields; flexible from v0.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

LIST_PARTITION_REASSIGNMENTS = register(
    declare(
        46,
        "ListPartitionReassignments",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("timeout_ms", "int32", default=60000),
            F(
                "topics",
                "[]ListPartitionReassignmentsTopics",
                "0+",
                F("name", "string"),
                F("partition_indexes", "[]int32"),
                nullable="0+",
                default=None,
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F(
                "topics",
                "[]OngoingTopicReassignment",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]OngoingPartitionReassignment",
                    "0+",
                    F("partition_index", "int32"),
                    F("replicas", "[]int32"),
                    F("adding_replicas", "[]int32"),
                    F("removing_replicas", "[]int32"),
                ),
            ),
        ],
    )
)
