"""ShareGroupHeartbeat (key 76), version 1.

Our declaration of Kafka's ShareGroupHeartbeatRequest/Response fields (KIP-932, share groups).
Version 0 was Kafka 4.0's early access and is not served; every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SHARE_GROUP_HEARTBEAT = register(
    declare(
        76,
        "ShareGroupHeartbeat",
        versions=(1, 1),
        flexible="0+",
        request=[
            F("group_id", "string"),
            F("member_id", "string"),
            F("member_epoch", "int32"),
            F("rack_id", "string", nullable="0+", default=None),
            F("subscribed_topic_names", "[]string", nullable="0+", default=None),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F("member_id", "string", nullable="0+", default=None),
            F("member_epoch", "int32"),
            F("heartbeat_interval_ms", "int32"),
            F(
                "assignment",
                "Assignment",
                "0+",
                F(
                    "topic_partitions",
                    "[]TopicPartitions",
                    "0+",
                    F("topic_id", "uuid"),
                    F("partitions", "[]int32"),
                ),
                nullable="0+",
                default=None,
            ),
        ],
    )
)
