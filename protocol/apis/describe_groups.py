"""DescribeGroups (key 15), versions 0-6.

Our declaration of Kafka's DescribeGroupsRequest/Response fields. v1 adds the throttle time, v3 the
optional authorized-operations bitfield per group, v4 the members' group instance ids, v5 is the
first flexible version, and v6 adds an error message per group.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_GROUPS = register(
    declare(
        15,
        "DescribeGroups",
        versions=(0, 6),
        flexible="5+",
        request=[
            F("groups", "[]string"),
            F("include_authorized_operations", "bool", "3+"),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F(
                "groups",
                "[]DescribedGroup",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", "6+", nullable="6+", default=None, ignorable=True),
                F("group_id", "string"),
                F("group_state", "string"),
                F("protocol_type", "string"),
                F("protocol_data", "string"),
                F(
                    "members",
                    "[]DescribedGroupMember",
                    "0+",
                    F("member_id", "string"),
                    F("group_instance_id", "string", "4+", nullable="4+", default=None, ignorable=True),
                    F("client_id", "string"),
                    F("client_host", "string"),
                    F("member_metadata", "bytes"),
                    F("member_assignment", "bytes"),
                ),
                F("authorized_operations", "int32", "3+", default=-2147483648),
            ),
        ],
    )
)
