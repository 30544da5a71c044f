"""AlterConfigs (key 33), versions 0-2.

Our declaration of Kafka's AlterConfigsRequest/Response fields. The wire shape is the same in
every version; v2 is the first flexible one.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ALTER_CONFIGS = register(
    declare(
        33,
        "AlterConfigs",
        versions=(0, 2),
        flexible="2+",
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
