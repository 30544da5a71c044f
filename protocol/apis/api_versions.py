"""ApiVersions (key 18), versions 0-4.

Our declaration of the fields in Kafka's ApiVersionsRequest/Response definitions.
Quirks handled elsewhere: the response always uses response header v0, and a request
of an unsupported version is answered at v0 with UNSUPPORTED_VERSION. v4 has v3's shape; it tells
the client that a supported feature's min_version may be 0 (KAFKA-17011).
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

API_VERSIONS = register(
    declare(
        18,
        "ApiVersions",
        versions=(0, 4),
        flexible="3+",
        request=[
            F("client_software_name", "string", "3+", ignorable=True),
            F("client_software_version", "string", "3+", ignorable=True),
        ],
        response=[
            F("error_code", "int16"),
            F(
                "api_keys",
                "[]ApiVersion",
                "0+",
                F("api_key", "int16"),
                F("min_version", "int16"),
                F("max_version", "int16"),
            ),
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F(
                "supported_features",
                "[]SupportedFeatureKey",
                "3+",
                F("name", "string", "3+"),
                F("min_version", "int16", "3+"),
                F("max_version", "int16", "3+"),
                tag=0,
                ignorable=True,
            ),
            F("finalized_features_epoch", "int64", "3+", tag=1, default=-1, ignorable=True),
            F(
                "finalized_features",
                "[]FinalizedFeatureKey",
                "3+",
                F("name", "string", "3+"),
                F("max_version_level", "int16", "3+"),
                F("min_version_level", "int16", "3+"),
                tag=2,
                ignorable=True,
            ),
            F("zk_migration_ready", "bool", "3+", tag=3, default=False, ignorable=True),
        ],
    )
)
