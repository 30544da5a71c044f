"""DeleteTopics (key 20), versions 1-6.

Our declaration of Kafka's DeleteTopicsRequest/Response fields. v4 is the first flexible version;
v5 adds a per-topic error message; v6 names topics by name or id (a list of structs replaces the
list of names) and the response carries the topic id with a nullable name.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DELETE_TOPICS = register(
    declare(
        20,
        "DeleteTopics",
        versions=(1, 6),
        flexible="4+",
        request=[
            F(
                "topics",
                "[]DeleteTopicState",
                "6+",
                F("name", "string", "6+", nullable="6+", default=None),
                F("topic_id", "uuid", "6+"),
            ),
            F("topic_names", "[]string", "0-5", ignorable=True),
            F("timeout_ms", "int32"),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F(
                "responses",
                "[]DeletableTopicResult",
                "0+",
                F("name", "string", "0+", nullable="6+"),
                F("topic_id", "uuid", "6+", ignorable=True),
                F("error_code", "int16"),
                F("error_message", "string", "5+", nullable="5+", default=None, ignorable=True),
            ),
        ],
    )
)
