"""ShareGroupDescribe (key 77), version 1.

Our declaration of Kafka's ShareGroupDescribeRequest/Response fields (KIP-932). Version 0 was
Kafka 4.0's early access and is not served; every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SHARE_GROUP_DESCRIBE = register(
    declare(
        77,
        "ShareGroupDescribe",
        versions=(1, 1),
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
                    F("rack_id", "string", nullable="0+", default=None),
                    F("member_epoch", "int32"),
                    F("client_id", "string"),
                    F("client_host", "string"),
                    F("subscribed_topic_names", "[]string"),
                    F(
                        "assignment",
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
                    ),
                ),
                F("authorized_operations", "int32", default=-(2**31)),
            ),
        ],
    )
)
