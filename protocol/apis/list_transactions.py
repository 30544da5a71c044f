"""ListTransactions (key 66), versions 0-1.

Our declaration of Kafka's ListTransactionsRequest/Response fields (KIP-664): the transactional
ids a broker coordinates, filtered by state and producer id; v1 adds a filter on how long the
transaction has run (KIP-994). v2's id pattern (KIP-1152) is not declared. Flexible from v0.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

LIST_TRANSACTIONS = register(
    declare(
        66,
        "ListTransactions",
        versions=(0, 1),
        flexible="0+",
        request=[
            F("state_filters", "[]string", "0+"),
            F("producer_id_filters", "[]int64", "0+"),
            F("duration_filter", "int64", "1+", default=-1),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("unknown_state_filters", "[]string", "0+"),
            F(
                "transaction_states",
                "[]TransactionState",
                "0+",
                F("transactional_id", "string"),
                F("producer_id", "int64"),
                F("transaction_state", "string"),
            ),
        ],
    )
)
