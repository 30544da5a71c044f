"""ListConfigResources (key 74), versions 0-1.

Our declaration of Kafka's ListConfigResourcesRequest/Response fields; flexible from v0. v0 is
the former ListClientMetricsResources (client metrics resources only); v1 (KIP-1142, Kafka 4.1)
adds the resource types to list to the request and each resource's type to the response.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

CLIENT_METRICS_RESOURCE = 16

LIST_CONFIG_RESOURCES = register(
    declare(
        74,
        "ListConfigResources",
        versions=(0, 1),
        flexible="0+",
        request=[F("resource_types", "[]int8", "1+")],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F(
                "config_resources",
                "[]ConfigResource",
                "0+",
                F("resource_name", "string"),
                F("resource_type", "int8", "1+", default=CLIENT_METRICS_RESOURCE, ignorable=True),
            ),
        ],
    )
)
