"""ListGroups (key 16), versions 0-5.

Our declaration of Kafka's ListGroupsRequest/Response fields. v1 adds the throttle time, v3 is the
first flexible version, and v4 lets the client filter by group state and returns each group's state;
v5 filters by group type (classic, consumer) and returns each group's type.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

LIST_GROUPS = register(
    declare(
        16,
        "ListGroups",
        versions=(0, 5),
        flexible="3+",
        request=[
            F("states_filter", "[]string", "4+"),
            F("types_filter", "[]string", "5+"),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16"),
            F(
                "groups",
                "[]ListedGroup",
                "0+",
                F("group_id", "string"),
                F("protocol_type", "string"),
                F("group_state", "string", "4+", ignorable=True),
                F("group_type", "string", "5+", ignorable=True),
            ),
        ],
    )
)
