"""Produce (key 0), versions 3-12.

Our declaration of Kafka's ProduceRequest/Response fields. v3 (our floor) carries the
transactional id and record batches (magic 2); v5 returns the log start offset; v8 adds
per-record error details; v9 is the first flexible version; v10 adds KIP-951's tagged current
leader and node endpoints; v11 TRANSACTION_ABORTABLE (KIP-890); v12 says the client runs
transactions v2, whose partitions join the transaction by being produced to.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare, node_endpoints

PRODUCE = register(
    declare(
        0,
        "Produce",
        versions=(3, 12),
        flexible="9+",
        request=[
            F("transactional_id", "string", "3+", nullable="3+", default=None),
            F("acks", "int16"),
            F("timeout_ms", "int32"),
            F(
                "topic_data",
                "[]TopicProduceData",
                "0+",
                F("name", "string"),
                F(
                    "partition_data",
                    "[]PartitionProduceData",
                    "0+",
                    F("index", "int32"),
                    F("records", "records", "0+", nullable="0+"),
                ),
            ),
        ],
        response=[
            F(
                "responses",
                "[]TopicProduceResponse",
                "0+",
                F("name", "string"),
                F(
                    "partition_responses",
                    "[]PartitionProduceResponse",
                    "0+",
                    F("index", "int32"),
                    F("error_code", "int16"),
                    F("base_offset", "int64"),
                    F("log_append_time_ms", "int64", "2+", default=-1, ignorable=True),
                    F("log_start_offset", "int64", "5+", default=-1, ignorable=True),
                    F(
                        "record_errors",
                        "[]BatchIndexAndErrorMessage",
                        "8+",
                        F("batch_index", "int32", "8+"),
                        F("batch_index_error_message", "string", "8+", nullable="8+", default=None),
                        ignorable=True,
                    ),
                    F("error_message", "string", "8+", nullable="8+", default=None, ignorable=True),
                    F(
                        "current_leader",
                        "LeaderIdAndEpoch",
                        "10+",
                        F("leader_id", "int32", "10+", default=-1),
                        F("leader_epoch", "int32", "10+", default=-1),
                        tag=0,
                    ),
                ),
            ),
            F("throttle_time_ms", "int32", "1+", default=0, ignorable=True),
            node_endpoints("10"),
        ],
    )
)
