"""IncrementalAlterConfigs (key 44), versions 0-1.

Our declaration of Kafka's IncrementalAlterConfigsRequest/Response fields. Each config entry carries
an operation (set, delete, append, subtract); v1 only switches to the flexible encoding.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

INCREMENTAL_ALTER_CONFIGS = register(
    declare(
        44,
        "IncrementalAlterConfigs",
        versions=(0, 1),
        flexible="1+",
        request=[
            F(
                "resources",
                "[]AlterConfigsResource",
                "0+",
                F("resource_type", "int8"),
                F("resource_name", "string"),
                F(
                    "configs",
                    "[]AlterableConfig",
                    "0+",
                    F("name", "string"),
                    F("config_operation", "int8"),
                    F("value", "string", "0+", nullable="0+"),
                ),
            ),
            F("validate_only", "bool"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "responses",
                "[]AlterConfigsResourceResponse",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+"),
                F("resource_type", "int8"),
                F("resource_name", "string"),
            ),
        ],
    )
)
