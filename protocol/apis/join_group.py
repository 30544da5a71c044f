"""JoinGroup (key 11), versions 0-9.

Our declaration of Kafka's JoinGroupRequest/Response fields. v1 adds the rebalance timeout, v2 the
throttle time, v5 static membership (group instance ids), v6 is the first flexible version, v7 returns
the protocol type (protocol name becomes nullable), v8 carries a join reason and v9 the skip-assignment flag.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

JOIN_GROUP = register(
    declare(
        11,
        "JoinGroup",
        versions=(0, 9),
        flexible="6+",
        request=[
            F("group_id", "string"),
            F("session_timeout_ms", "int32"),
            F("rebalance_timeout_ms", "int32", "1+", default=-1, ignorable=True),
            F("member_id", "string"),
            F("group_instance_id", "string", "5+", nullable="5+", default=None),
            F("protocol_type", "string"),
            F(
                "protocols",
                "[]JoinGroupRequestProtocol",
                "0+",
                F("name", "string"),
                F("metadata", "bytes"),
            ),
            F("reason", "string", "8+", nullable="8+", default=None, ignorable=True),
        ],
        response=[
            F("throttle_time_ms", "int32", "2+", ignorable=True),
            F("error_code", "int16"),
            F("generation_id", "int32", default=-1),
            F("protocol_type", "string", "7+", nullable="7+", default=None, ignorable=True),
            F("protocol_name", "string", nullable="7+"),
            F("leader", "string"),
            F("skip_assignment", "bool", "9+", default=False),
            F("member_id", "string"),
            F(
                "members",
                "[]JoinGroupResponseMember",
                "0+",
                F("member_id", "string"),
                F("group_instance_id", "string", "5+", nullable="5+", default=None, ignorable=True),
                F("metadata", "bytes"),
            ),
        ],
    )
)
