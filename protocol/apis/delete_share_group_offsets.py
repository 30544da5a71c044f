"""DeleteShareGroupOffsets (key 92), version 0.

Our declaration of Kafka's DeleteShareGroupOffsetsRequest/Response fields (KIP-932): forget an empty
share group's state for whole topics. Every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DELETE_SHARE_GROUP_OFFSETS = register(
    declare(
        92,
        "DeleteShareGroupOffsets",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("group_id", "string"),
            F("topics", "[]DeleteShareGroupOffsetsRequestTopic", "0+", F("topic_name", "string")),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F(
                "responses",
                "[]DeleteShareGroupOffsetsResponseTopic",
                "0+",
                F("topic_name", "string"),
                F("topic_id", "uuid"),
                F("error_code", "int16"),
                F("error_message", "string", nullable="0+", default=None),
            ),
        ],
    )
)
