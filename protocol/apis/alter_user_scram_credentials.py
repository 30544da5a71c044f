"""AlterUserScramCredentials (key 51), version 0.

Our declaration of Kafka's AlterUserScramCredentialsRequest/Response fields. Flexible from v0.
The client salts the password itself: upsertions carry the salt and the salted password.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ALTER_USER_SCRAM_CREDENTIALS = register(
    declare(
        51,
        "AlterUserScramCredentials",
        versions=(0, 0),
        flexible="0+",
        request=[
            F(
                "deletions",
                "[]ScramCredentialDeletion",
                "0+",
                F("name", "string"),
                F("mechanism", "int8"),
            ),
            F(
                "upsertions",
                "[]ScramCredentialUpsertion",
                "0+",
                F("name", "string"),
                F("mechanism", "int8"),
                F("iterations", "int32"),
                F("salt", "bytes"),
                F("salted_password", "bytes"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]AlterUserScramCredentialsResult",
                "0+",
                F("user", "string"),
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+", default=None),
            ),
        ],
    )
)
