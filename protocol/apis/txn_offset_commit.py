"""TxnOffsetCommit (key 28), versions 0-5.

Our declaration of Kafka's TxnOffsetCommitRequest/Response fields: a group's offsets committed
as part of a transaction, visible once it commits. v2 adds the committed leader epoch; v3 is the
first flexible version and adds the member's generation, id and instance id (KIP-447); v4
(TRANSACTION_ABORTABLE, KIP-890) and v5 (the client runs transactions v2) keep v3's shape.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

TXN_OFFSET_COMMIT = register(
    declare(
        28,
        "TxnOffsetCommit",
        versions=(0, 5),
        flexible="3+",
        request=[
            F("transactional_id", "string"),
            F("group_id", "string"),
            F("producer_id", "int64"),
            F("producer_epoch", "int16"),
            F("generation_id", "int32", "3+", default=-1),
            F("member_id", "string", "3+", default=""),
            F("group_instance_id", "string", "3+", nullable="3+", default=None),
            F(
                "topics",
                "[]TxnOffsetCommitRequestTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]TxnOffsetCommitRequestPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("committed_offset", "int64"),
                    F("committed_leader_epoch", "int32", "2+", default=-1, ignorable=True),
                    F("committed_metadata", "string", nullable="0+"),
                ),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "topics",
                "[]TxnOffsetCommitResponseTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]TxnOffsetCommitResponsePartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                ),
            ),
        ],
    )
)
