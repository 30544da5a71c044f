"""EndTxn (key 26), versions 0-5.

Our declaration of Kafka's EndTxnRequest/Response fields: commit or abort a transaction. v3 is
the first flexible version; v4 adds TRANSACTION_ABORTABLE (KIP-890); v5 returns the producer id and
epoch after the epoch bump every transaction ends with under transactions v2.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

END_TXN = register(
    declare(
        26,
        "EndTxn",
        versions=(0, 5),
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
            F("producer_id", "int64", "5+", default=-1, ignorable=True),
            F("producer_epoch", "int16", "5+", default=-1, ignorable=True),
        ],
    )
)
