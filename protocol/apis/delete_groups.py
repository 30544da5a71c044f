"""DeleteGroups (key 42), versions 0-2.

Our declaration of Kafka's DeleteGroupsRequest/Response fields. The shape is unchanged across
versions; v2 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DELETE_GROUPS = register(
    declare(
        42,
        "DeleteGroups",
        versions=(0, 2),
        flexible="2+",
        request=[
            F("groups_names", "[]string"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results",
                "[]DeletableGroupResult",
                "0+",
                F("group_id", "string"),
                F("error_code", "int16"),
            ),
        ],
    )
)
