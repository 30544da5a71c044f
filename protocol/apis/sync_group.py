"""SyncGroup (key 14), versions 0-5.

Our declaration of Kafka's SyncGroupRequest/Response fields. v1 adds the throttle time, v3 the group
instance id, v4 is the first flexible version and v5 echoes the protocol type and name both ways.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SYNC_GROUP = register(
    declare(
        14,
        "SyncGroup",
        versions=(0, 5),
        flexible="4+",
        request=[
            F("group_id", "string"),
            F("generation_id", "int32"),
            F("member_id", "string"),
            F("group_instance_id", "string", "3+", nullable="3+", default=None),
            F("protocol_type", "string", "5+", nullable="5+", default=None, ignorable=True),
            F("protocol_name", "string", "5+", nullable="5+", default=None, ignorable=True),
            F(
                "assignments",
                "[]SyncGroupRequestAssignment",
                "0+",
                F("member_id", "string"),
                F("assignment", "bytes"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16"),
            F("protocol_type", "string", "5+", nullable="5+", default=None, ignorable=True),
            F("protocol_name", "string", "5+", nullable="5+", default=None, ignorable=True),
            F("assignment", "bytes"),
        ],
    )
)
