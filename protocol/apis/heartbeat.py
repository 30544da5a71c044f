"""Heartbeat (key 12), versions 0-4.

Our declaration of Kafka's HeartbeatRequest/Response fields. v1 adds the throttle time, v3 the group
instance id, and v4 is the first flexible version.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

HEARTBEAT = register(
    declare(
        12,
        "Heartbeat",
        versions=(0, 4),
        flexible="4+",
        request=[
            F("group_id", "string"),
            F("generation_id", "int32"),
            F("member_id", "string"),
            F("group_instance_id", "string", "3+", nullable="3+", default=None),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16"),
        ],
    )
)
