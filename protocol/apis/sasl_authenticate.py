"""SaslAuthenticate (key 36), versions 0-2.

Our declaration of Kafka's SaslAuthenticateRequest/Response fields. v1 adds the session
lifetime to the response; v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SASL_AUTHENTICATE = register(
    declare(
        36,
        "SaslAuthenticate",
        versions=(0, 2),
        flexible="2+",
        request=[
            F("auth_bytes", "bytes"),
        ],
        response=[
            F("error_code", "int16"),
            F("error_message", "string", "0+", nullable="0+"),
            F("auth_bytes", "bytes"),
            F("session_lifetime_ms", "int64", "1+", default=0, ignorable=True),
        ],
    )
)
