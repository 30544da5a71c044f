"""CreateAcls (key 30), versions 1-3 (Kafka 4's range).

Our declaration of Kafka's CreateAclsRequest/Response fields: bindings in, one result each out.
v1 adds the pattern type; v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

CREATE_ACLS = register(
    declare(
        30,
        "CreateAcls",
        versions=(1, 3),
        flexible="2+",
        request=[
            F(
                "creations",
                "[]AclCreation",
                "0+",
                F("resource_type", "int8"),
                F("resource_name", "string"),
                F("resource_pattern_type", "int8", "1+", default=3),
                F("principal", "string"),
                F("host", "string"),
                F("operation", "int8"),
                F("permission_type", "int8"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]AclCreationResult",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+", default=None),
            ),
        ],
    )
)
