"""SaslHandshake (key 17), versions 0-1.

Our declaration of Kafka's SaslHandshakeRequest/Response fields. Never flexible. Both versions
share one wire shape: v0 is followed by raw SASL tokens, v1 by SaslAuthenticate requests.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SASL_HANDSHAKE = register(
    declare(
        17,
        "SaslHandshake",
        versions=(0, 1),
        flexible="none",
        request=[
            F("mechanism", "string"),
        ],
        response=[
            F("error_code", "int16"),
            F("mechanisms", "[]string"),
        ],
    )
)
