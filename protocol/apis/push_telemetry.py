"""PushTelemetry (key 72), version 0.

Our declaration of Kafka's PushTelemetryRequest/Response fields (KIP-714): a client pushes the
metrics it was subscribed to, encoded as OpenTelemetry MetricsData, possibly compressed.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

PUSH_TELEMETRY = register(
    declare(
        72,
        "PushTelemetry",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("client_instance_id", "uuid"),
            F("subscription_id", "int32"),
            F("terminating", "bool"),
            F("compression_type", "int8"),
            F("metrics", "bytes"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
        ],
    )
)
