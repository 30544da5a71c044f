"""AddOffsetsToTxn (key 25), versions 0-4.

Our declaration of Kafka's AddOffsetsToTxnRequest/Response fields: a consumer group joins a
transaction, so that TxnOffsetCommit may commit its offsets with it. v3 is the first flexible
version; v4 (KIP-890, TRANSACTION_ABORTABLE) keeps v3's shape.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ADD_OFFSETS_TO_TXN = register(
    declare(
        25,
        "AddOffsetsToTxn",
        versions=(0, 4),
        flexible="3+",
        request=[
            F("transactional_id", "string"),
            F("producer_id", "int64"),
            F("producer_epoch", "int16"),
            F("group_id", "string"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
        ],
    )
)
