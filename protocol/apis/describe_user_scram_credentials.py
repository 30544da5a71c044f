"""DescribeUserScramCredentials (key 50), version 0.

Our declaration of Kafka's DescribeUserScramCredentialsRequest/Response fields. Flexible from v0.
A null or empty user list asks for every user.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_USER_SCRAM_CREDENTIALS = register(
    declare(
        50,
        "DescribeUserScramCredentials",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("users", "[]UserName", "0+", F("name", "string"), nullable="0+", default=None),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", "0+", nullable="0+", default=None),
            F(
                "results",
                "[]DescribeUserScramCredentialsResult",
                "0+",
                F("user", "string"),
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+", default=None),
                F(
                    "credential_infos",
                    "[]CredentialInfo",
                    "0+",
                    F("mechanism", "int8"),
                    F("iterations", "int32"),
                ),
            ),
        ],
    )
)
