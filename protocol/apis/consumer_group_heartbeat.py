"""ConsumerGroupHeartbeat (key 68), versions 0-1.

Our declaration of Kafka's ConsumerGroupHeartbeatRequest/Response fields (KIP-848, the consumer
group protocol). Every version is flexible; v1 adds the server-side regular expression subscription.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

CONSUMER_GROUP_HEARTBEAT = register(
    declare(
        68,
        "ConsumerGroupHeartbeat",
        versions=(0, 1),
        flexible="0+",
        request=[
            F("group_id", "string"),
            F("member_id", "string"),
            F("member_epoch", "int32"),
            F("instance_id", "string", nullable="0+", default=None),
            F("rack_id", "string", nullable="0+", default=None),
            F("rebalance_timeout_ms", "int32", default=-1),
            F("subscribed_topic_names", "[]string", nullable="0+", default=None),
            F("subscribed_topic_regex", "string", "1+", nullable="1+", default=None),
            F("server_assignor", "string", nullable="0+", default=None),
            F(
                "topic_partitions",
                "[]TopicPartitions",
                "0+",
                F("topic_id", "uuid"),
                F("partitions", "[]int32"),
                nullable="0+",
                default=None,
            ),
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
