"""AddPartitionsToTxn (key 24), versions 0-5.

Our declaration of Kafka's AddPartitionsToTxnRequest/Response fields for the producer's form:
one transaction, its producer id and epoch, and topics with partitions. v3 is the first flexible
version; v4 carries a batch of transactions, each possibly verify-only, and is sent broker to broker
(KIP-890); v5 adds TRANSACTION_ABORTABLE.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, Field, declare


def _topics(name: str, versions: str) -> Field:
    """Kafka's common struct AddPartitionsToTxnTopic, in both forms of the request."""
    return F(name, "[]AddPartitionsToTxnTopic", versions, F("name", "string"), F("partitions", "[]int32", "0+"))


def _topic_results(name: str, versions: str) -> Field:
    """Kafka's common struct AddPartitionsToTxnTopicResult, in both forms of the response."""
    return F(
        name,
        "[]AddPartitionsToTxnTopicResult",
        versions,
        F("name", "string"),
        F(
            "results_by_partition",
            "[]AddPartitionsToTxnPartitionResult",
            "0+",
            F("partition_index", "int32"),
            F("partition_error_code", "int16"),
        ),
    )


ADD_PARTITIONS_TO_TXN = register(
    declare(
        24,
        "AddPartitionsToTxn",
        versions=(0, 5),
        flexible="3+",
        request=[
            F(
                "transactions",
                "[]AddPartitionsToTxnTransaction",
                "4+",
                F("transactional_id", "string", "4+"),
                F("producer_id", "int64", "4+"),
                F("producer_epoch", "int16", "4+"),
                F("verify_only", "bool", "4+", default=False),
                _topics("topics", "4+"),
            ),
            F("v3_and_below_transactional_id", "string", "0-3"),
            F("v3_and_below_producer_id", "int64", "0-3"),
            F("v3_and_below_producer_epoch", "int16", "0-3"),
            _topics("v3_and_below_topics", "0-3"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16", "4+", ignorable=True),
            F(
                "results_by_transaction",
                "[]AddPartitionsToTxnResult",
                "4+",
                F("transactional_id", "string", "4+"),
                _topic_results("topic_results", "4+"),
            ),
            _topic_results("results_by_topic_v3_and_below", "0-3"),
        ],
    )
)
