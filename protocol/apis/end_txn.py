"""EndTxn (key 26), versions 0-3.

Our declaration of Kafka's EndTxnRequest/Response fields: commit or abort a transaction. v3 is
the first flexible version; v4 (KIP-890, TRANSACTION_ABORTABLE) and v5 (an epoch bump per
transaction) are not declared.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

END_TXN = register(
    declare(
        26,
        "EndTxn",
        versions=(0, 3),
        flexible="3+",
        request=[
            F("transactional_id", "string"),
            F("producer_id", "int64"),
            F("producer_epoch", "int16"),
            F("committed", "bool"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
        ],
    )
)
