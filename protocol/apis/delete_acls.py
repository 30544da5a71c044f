"""DeleteAcls (key 31), versions 1-3 (Kafka 4's range).

Our declaration of Kafka's DeleteAclsRequest/Response fields: filters in, per filter the bindings
it matched (and deleted) out. v1 adds the pattern type; v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DELETE_ACLS = register(
    declare(
        31,
        "DeleteAcls",
        versions=(1, 3),
        flexible="2+",
        request=[
            F(
                "filters",
                "[]DeleteAclsFilter",
                "0+",
                F("resource_type_filter", "int8"),
                F("resource_name_filter", "string", "0+", nullable="0+"),
                F("pattern_type_filter", "int8", "1+", default=3),
                F("principal_filter", "string", "0+", nullable="0+"),
                F("host_filter", "string", "0+", nullable="0+"),
                F("operation", "int8"),
                F("permission_type", "int8"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "filter_results",
                "[]DeleteAclsFilterResult",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", "0+", nullable="0+", default=None),
                F(
                    "matching_acls",
                    "[]DeleteAclsMatchingAcl",
                    "0+",
                    F("error_code", "int16"),
                    F("error_message", "string", "0+", nullable="0+", default=None),
                    F("resource_type", "int8"),
                    F("resource_name", "string"),
                    F("pattern_type", "int8", "1+", default=3),
                    F("principal", "string"),
                    F("host", "string"),
                    F("operation", "int8"),
                    F("permission_type", "int8"),
                ),
            ),
        ],
    )
)
