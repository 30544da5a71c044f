"""CreateTopics (key 19), versions 2-7.

Our declaration of Kafka's CreateTopicsRequest/Response fields. v2 (our floor) already carries the
throttle time; v5 is the first flexible version and makes the response echo each topic's partition
count, replication factor and configs (plus a tagged config error code); v7 adds the topic id.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

CREATE_TOPICS = register(
    declare(
        19,
        "CreateTopics",
        versions=(2, 7),
        flexible="5+",
        request=[
            F(
                "topics",
                "[]CreatableTopic",
                "0+",
                F("name", "string"),
                F("num_partitions", "int32"),
                F("replication_factor", "int16"),
                F(
                    "assignments",
                    "[]CreatableReplicaAssignment",
                    "0+",
                    F("partition_index", "int32"),
                    F("broker_ids", "[]int32"),
                ),
                F(
                    "configs",
                    "[]CreatableTopicConfig",
                    "0+",
                    F("name", "string"),
                    F("value", "string", "0+", nullable="0+"),
                ),
            ),
            F("timeout_ms", "int32", "0+", default=60000),
            F("validate_only", "bool", "1+", default=False),
        ],
        response=[
            F("throttle_time_ms", "int32", "2+", ignorable=True),
            F(
                "topics",
                "[]CreatableTopicResult",
                "0+",
                F("name", "string"),
                F("topic_id", "uuid", "7+", ignorable=True),
                F("error_code", "int16"),
                F("error_message", "string", "1+", nullable="0+", ignorable=True),
                F("topic_config_error_code", "int16", "5+", tag=0, ignorable=True),
                F("num_partitions", "int32", "5+", default=-1, ignorable=True),
                F("replication_factor", "int16", "5+", default=-1, ignorable=True),
                F(
                    "configs",
                    "[]CreatableTopicConfigs",
                    "5+",
                    F("name", "string", "5+"),
                    F("value", "string", "5+", nullable="5+"),
                    F("read_only", "bool", "5+"),
                    F("config_source", "int8", "5+", default=-1, ignorable=True),
                    F("is_sensitive", "bool", "5+"),
                    nullable="5+",
                    ignorable=True,
                ),
            ),
        ],
    )
)
