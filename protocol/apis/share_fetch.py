"""ShareFetch (key 78), version 1.

Our declaration of Kafka's ShareFetchRequest/Response fields (KIP-932). Version 0 was Kafka 4.0's
early access and is not served: v1 drops PartitionMaxBytes, adds MaxRecords and BatchSize to the
request and AcquisitionLockTimeoutMs to the response. Every version is flexible.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

_ACKNOWLEDGEMENT_BATCH = (
    F("first_offset", "int64"),
    F("last_offset", "int64"),
    F("acknowledge_types", "[]int8"),
)

_NODE_ENDPOINT = (
    F("node_id", "int32"),
    F("host", "string"),
    F("port", "int32"),
    F("rack", "string", nullable="0+", default=None),
)

SHARE_FETCH = register(
    declare(
        78,
        "ShareFetch",
        versions=(1, 1),
        flexible="0+",
        request=[
            F("group_id", "string", nullable="0+", default=None),
            F("member_id", "string", nullable="0+"),
            F("share_session_epoch", "int32"),
            F("max_wait_ms", "int32"),
            F("min_bytes", "int32"),
            F("max_bytes", "int32", default=0x7FFFFFFF),
            F("max_records", "int32", "1+"),
            F("batch_size", "int32", "1+"),
            F(
                "topics",
                "[]FetchTopic",
                "0+",
                F("topic_id", "uuid"),
                F(
                    "partitions",
                    "[]FetchPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("partition_max_bytes", "int32", "0"),
                    F("acknowledgement_batches", "[]AcknowledgementBatch", "0+", *_ACKNOWLEDGEMENT_BATCH),
                ),
            ),
            F(
                "forgotten_topics_data",
                "[]ForgottenTopic",
                "0+",
                F("topic_id", "uuid"),
                F("partitions", "[]int32"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", nullable="0+", default=None),
            F("acquisition_lock_timeout_ms", "int32", "1+"),
            F(
                "responses",
                "[]ShareFetchableTopicResponse",
                "0+",
                F("topic_id", "uuid"),
                F(
                    "partitions",
                    "[]PartitionData",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("error_message", "string", nullable="0+", default=None),
                    F("acknowledge_error_code", "int16"),
                    F("acknowledge_error_message", "string", nullable="0+", default=None),
                    F("current_leader", "LeaderIdAndEpoch", "0+", F("leader_id", "int32"), F("leader_epoch", "int32")),
                    F("records", "records", "0+", nullable="0+"),
                    F(
                        "acquired_records",
                        "[]AcquiredRecords",
                        "0+",
                        F("first_offset", "int64"),
                        F("last_offset", "int64"),
                        F("delivery_count", "int16"),
                    ),
                ),
            ),
            F("node_endpoints", "[]NodeEndpoint", "0+", *_NODE_ENDPOINT),
        ],
    )
)
