"""CreatePartitions (key 37), versions 0-3.

Our declaration of Kafka's CreatePartitionsRequest/Response fields. The wire shape is the same in
every version; v2 is the first flexible one.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

CREATE_PARTITIONS = register(
    declare(
        37,
        "CreatePartitions",
        versions=(0, 3),
        flexible="2+",
        request=[
            F(
                "topics",
                "[]CreatePartitionsTopic",
                "0+",
                F("name", "string"),
                F("count", "int32"),
                F(
                    "assignments",
                    "[]CreatePartitionsAssignment",
                    "0+",
                    F("broker_ids", "[]int32"),
                    nullable="0+",
                ),
            ),
            F("timeout_ms", "int32"),
            F("validate_only", "bool"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]CreatePartitionsTopicResult",
                "0+",
                F("name", "string"),
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+", default=None),
            ),
        ],
    )
)
