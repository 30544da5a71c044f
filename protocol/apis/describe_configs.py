"""DescribeConfigs (key 32), versions 1-4.

Our declaration of Kafka's DescribeConfigsRequest/Response fields. v1 (our floor) brings synonyms
and the config source in place of v0's is-default flag; v3 adds documentation and the config type;
v4 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_CONFIGS = register(
    declare(
        32,
        "DescribeConfigs",
        versions=(1, 4),
        flexible="4+",
        request=[
            F(
                "resources",
                "[]DescribeConfigsResource",
                "0+",
                F("resource_type", "int8"),
                F("resource_name", "string"),
                F("configuration_keys", "[]string", "0+", nullable="0+"),
            ),
            F("include_synonyms", "bool", "1+", default=False),
            F("include_documentation", "bool", "3+", default=False),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]DescribeConfigsResult",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+"),
                F("resource_type", "int8"),
                F("resource_name", "string"),
                F(
                    "configs",
                    "[]DescribeConfigsResourceResult",
                    "0+",
                    F("name", "string"),
                    F("value", "string", "0+", nullable="0+"),
                    F("read_only", "bool"),
                    F("config_source", "int8", "1+", default=-1, ignorable=True),
                    F("is_sensitive", "bool"),
                    F(
                        "synonyms",
                        "[]DescribeConfigsSynonym",
                        "1+",
                        F("name", "string", "1+"),
                        F("value", "string", "1+", nullable="0+"),
                        F("source", "int8", "1+"),
                        ignorable=True,
                    ),
                    F("config_type", "int8", "3+", default=0, ignorable=True),
                    F("documentation", "string", "3+", nullable="0+", ignorable=True),
                ),
            ),
        ],
    )
)
