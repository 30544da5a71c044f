"""Fetch (key 1), versions 4-17.

Our declaration of Kafka's FetchRequest/Response fields. v4 (our floor) adds isolation level and
aborted transactions; v5 the log start offset; v7 incremental fetch sessions; v9 the current
leader epoch; v11 the consumer rack and preferred read replica; v12 is the first flexible
version, with tagged diverging-epoch, current-leader and snapshot-id structs in the response;
v13 names topics by id instead of name; v15 moves the follower's id into a tagged replica state;
v16 adds the tagged node endpoints of KIP-951; v17 a follower's tagged directory id (KIP-853).
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare, node_endpoints

FETCH = register(
    declare(
        1,
        "Fetch",
        versions=(4, 17),
        flexible="12+",
        request=[
            F("cluster_id", "string", "12+", nullable="12+", default=None, tag=0, ignorable=True),
            F("replica_id", "int32", "0-14", default=-1),
            F(
                "replica_state",
                "ReplicaState",
                "15+",
                F("replica_id", "int32", "15+", default=-1),
                F("replica_epoch", "int64", "15+", default=-1),
                tag=1,
            ),
            F("max_wait_ms", "int32"),
            F("min_bytes", "int32"),
            F("max_bytes", "int32", "3+", default=2147483647, ignorable=True),
            F("isolation_level", "int8", "4+", default=0, ignorable=True),
            F("session_id", "int32", "7+", default=0, ignorable=True),
            F("session_epoch", "int32", "7+", default=-1, ignorable=True),
            F(
                "topics",
                "[]FetchTopic",
                "0+",
                F("topic", "string", "0-12", ignorable=True),
                F("topic_id", "uuid", "13+", ignorable=True),
                F(
                    "partitions",
                    "[]FetchPartition",
                    "0+",
                    F("partition", "int32"),
                    F("current_leader_epoch", "int32", "9+", default=-1, ignorable=True),
                    F("fetch_offset", "int64"),
                    F("last_fetched_epoch", "int32", "12+", default=-1),
                    F("log_start_offset", "int64", "5+", default=-1, ignorable=True),
                    F("partition_max_bytes", "int32"),
                    F("replica_directory_id", "uuid", "17+", tag=0, ignorable=True),
                ),
            ),
            F(
                "forgotten_topics_data",
                "[]ForgottenTopic",
                "7+",
                F("topic", "string", "7-12", ignorable=True),
                F("topic_id", "uuid", "13+", ignorable=True),
                F("partitions", "[]int32", "7+"),
            ),
            F("rack_id", "string", "11+", default="", ignorable=True),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16", "7+", ignorable=True),
            F("session_id", "int32", "7+", default=0),
            F(
                "responses",
                "[]FetchableTopicResponse",
                "0+",
                F("topic", "string", "0-12", ignorable=True),
                F("topic_id", "uuid", "13+", ignorable=True),
                F(
                    "partitions",
                    "[]PartitionData",
                    "0+",
                    F("partition_index", "int32"),
                    F("error_code", "int16"),
                    F("high_watermark", "int64"),
                    F("last_stable_offset", "int64", "4+", default=-1, ignorable=True),
                    F("log_start_offset", "int64", "5+", default=-1, ignorable=True),
                    F(
                        "diverging_epoch",
                        "EpochEndOffset",
                        "12+",
                        F("epoch", "int32", "12+", default=-1),
                        F("end_offset", "int64", "12+", default=-1),
                        tag=0,
                    ),
                    F(
                        "current_leader",
                        "LeaderIdAndEpoch",
                        "12+",
                        F("leader_id", "int32", "12+", default=-1),
                        F("leader_epoch", "int32", "12+", default=-1),
                        tag=1,
                    ),
                    F(
                        "snapshot_id",
                        "SnapshotId",
                        "12+",
                        F("end_offset", "int64", "0+", default=-1),
                        F("epoch", "int32", "0+", default=-1),
                        tag=2,
                    ),
                    F(
                        "aborted_transactions",
                        "[]AbortedTransaction",
                        "4+",
                        F("producer_id", "int64", "4+"),
                        F("first_offset", "int64", "4+"),
                        nullable="4+",
                        ignorable=True,
                    ),
                    F("preferred_read_replica", "int32", "11+", default=-1),
                    F("records", "records", "0+", nullable="0+"),
                ),
            ),
            node_endpoints("16"),
        ],
    )
)
