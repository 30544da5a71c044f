"""ShareAcknowledge (key 79), version 1.

Our declaration of Kafka's ShareAcknowledgeRequest/Response fields (KIP-932). Version 0 was Kafka
4.0's early access and is not served; every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

SHARE_ACKNOWLEDGE = register(
    declare(
        79,
        "ShareAcknowledge",
        versions=(1, 1),
        flexible="0+",
        request=[
            F("group_id", "string", nullable="0+", default=None),
            F("member_id", "string", nullable="0+"),
            F("share_session_epoch", "int32"),
            F(
                "topics",
                "[]AcknowledgeTopic",
                "0+",
                F("topic_id", "uuid"),
                F(
                    "partitions",
                    "[]AcknowledgePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F(
                        "acknowledgement_batches",
                        "[]AcknowledgementBatch",
                        "0+",
                        F("first_offset", "int64"),
                        F("last_offset", "int64"),
                        F("acknowledge_types", "[]int8"),
                    ),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32", ignorable=True),
            F("error_code", "int16", ignorable=True),
            F("error_message", "string", nullable="0+", default=None),
            F(
                "responses",
                "[]ShareAcknowledgeTopicResponse",
                "0+",
                F("topic_id", "uuid", ignorable=True),
                F(
                    "partitions",
                    "[]PartitionData",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", nullable="0+", default=None),
                    F("current_leader", "LeaderIdAndEpoch", "0+", F("leader_id", "int32"), F("leader_epoch", "int32")),
                ),
            ),
            F(
                "node_endpoints",
                "[]NodeEndpoint",
                "0+",
                F("node_id", "int32"),
                F("host", "string"),
                F("port", "int32"),
                F("rack", "string", nullable="0+", default=None),
            ),
        ],
    )
)
