"""ConsumerGroupDescribe (key 69), versions 0-1.

Our declaration of Kafka's ConsumerGroupDescribeRequest/Response fields (KIP-848). Every version is
flexible; v1 adds each member's type (0 a classic member, 1 a consumer-protocol member).
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, Field, declare


def _assignment(name: str) -> Field:
    return F(
        name,
        "Assignment",
        "0+",
        F(
            "topic_partitions",
            "[]TopicPartitions",
            "0+",
            F("topic_id", "uuid"),
            F("topic_name", "string"),
            F("partitions", "[]int32"),
        ),
    )


CONSUMER_GROUP_DESCRIBE = register(
    declare(
        69,
        "ConsumerGroupDescribe",
        versions=(0, 1),
        flexible="0+",
        request=[
            F("group_ids", "[]string"),
            F("include_authorized_operations", "bool"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "groups",
                "[]DescribedGroup",
                "0+",
                F("error_code", "int16"),
                F("error_message", "string", nullable="0+", default=None),
                F("group_id", "string"),
                F("group_state", "string"),
                F("group_epoch", "int32"),
                F("assignment_epoch", "int32"),
                F("assignor_name", "string"),
                F(
                    "members",
                    "[]Member",
                    "0+",
                    F("member_id", "string"),
                    F("instance_id", "string", nullable="0+", default=None),
                    F("rack_id", "string", nullable="0+", default=None),
                    F("member_epoch", "int32"),
                    F("client_id", "string"),
                    F("client_host", "string"),
                    F("subscribed_topic_names", "[]string"),
                    F("subscribed_topic_regex", "string", nullable="0+", default=None),
                    _assignment("assignment"),
                    _assignment("target_assignment"),
                    F("member_type", "int8", "1+", default=-1, ignorable=True),
                ),
                F("authorized_operations", "int32", default=-2147483648),
            ),
        ],
    )
)
