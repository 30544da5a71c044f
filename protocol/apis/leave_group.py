"""LeaveGroup (key 13), versions 0-5.

Our declaration of Kafka's LeaveGroupRequest/Response fields. v1 adds the throttle time; v3 replaces
the single member id with a batch of member identities answered per member; v4 is the first flexible
version and v5 lets each leaving member give a reason.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

LEAVE_GROUP = register(
    declare(
        13,
        "LeaveGroup",
        versions=(0, 5),
        flexible="4+",
        request=[
            F("group_id", "string"),
            F("member_id", "string", "0-2"),
            F(
                "members",
                "[]MemberIdentity",
                "3+",
                F("member_id", "string", "3+"),
                F("group_instance_id", "string", "3+", nullable="3+", default=None),
                F("reason", "string", "5+", nullable="5+", default=None, ignorable=True),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16"),
            F(
                "members",
                "[]MemberResponse",
                "3+",
                F("member_id", "string", "3+"),
                F("group_instance_id", "string", "3+", nullable="3+"),
                F("error_code", "int16", "3+"),
            ),
        ],
    )
)
