"""AddPartitionsToTxn (key 24), versions 0-3.

Our declaration of Kafka's AddPartitionsToTxnRequest/Response fields for the producer's form:
one transaction, its producer id and epoch, and topics with partitions. v3 is the first flexible
version; v4+ (batches of transactions, sent broker to broker, KIP-890) is not declared.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

ADD_PARTITIONS_TO_TXN = register(
    declare(
        24,
        "AddPartitionsToTxn",
        versions=(0, 3),
        flexible="3+",
        request=[
            F("v3_and_below_transactional_id", "string", "0-3"),
            F("v3_and_below_producer_id", "int64", "0-3"),
            F("v3_and_below_producer_epoch", "int16", "0-3"),
            F(
                "v3_and_below_topics",
                "[]AddPartitionsToTxnTopic",
                "0-3",
                F("name", "string"),
                F("partitions", "[]int32", "0+"),
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "results_by_topic_v3_and_below",
                "[]AddPartitionsToTxnTopicResult",
                "0-3",
                F("name", "string"),
                F(
                    "results_by_partition",
                    "[]AddPartitionsToTxnPartitionResult",
                    "0+",
                    F("partition_index", "int32"),
                    F("partition_error_code", "int16"),
                ),
            ),
        ],
    )
)
