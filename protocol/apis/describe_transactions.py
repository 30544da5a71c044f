"""DescribeTransactions (key 65), version 0.

Our declaration of Kafka's DescribeTransactionsRequest/Response fields (KIP-664): the state,
producer, timeout, start time and partitions of transactional ids, asked of their coordinator.
Flexible from v0.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_TRANSACTIONS = register(
    declare(
        65,
        "DescribeTransactions",
        versions=(0, 0),
        flexible="0+",
        request=[
            F("transactional_ids", "[]string", "0+"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "transaction_states",
                "[]TransactionState",
                "0+",
                F("error_code", "int16"),
                F("transactional_id", "string"),
                F("transaction_state", "string"),
                F("transaction_timeout_ms", "int32"),
                F("transaction_start_time_ms", "int64"),
                F("producer_id", "int64"),
                F("producer_epoch", "int16"),
                F(
                    "topics",
                    "[]TopicData",
                    "0+",
                    F("topic", "string"),
                    F("partitions", "[]int32", "0+"),
                ),
            ),
        ],
    )
)
