"""GetTelemetrySubscriptions (key 71), version 0.

Our declaration of Kafka's GetTelemetrySubscriptionsRequest/Response fields (KIP-714): a client
asks which of its metrics the broker wants pushed, how often and in what form.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

GET_TELEMETRY_SUBSCRIPTIONS = register(
    declare(
        71,
        "GetTelemetrySubscriptions",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("client_instance_id", "uuid"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("client_instance_id", "uuid"),
            F("subscription_id", "int32"),
            F("accepted_compression_types", "[]int8"),
            F("push_interval_ms", "int32"),
            F("telemetry_max_bytes", "int32"),
            F("delta_temporality", "bool"),
            F("requested_metrics", "[]string"),
        ],
    )
)
