"""Metadata (key 3), versions 0-12.

Our declaration of Kafka's MetadataRequest/Response fields. v1 makes a null topic list mean
"all topics"; v4 adds auto-creation control; v8 adds authorized-operation bitfields; v9 is the
first flexible version; v10 adds topic ids; v11 drops the cluster-level operations (moved to
DescribeCluster); v12 allows a null topic name in the response.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

METADATA = register(
    declare(
        3,
        "Metadata",
        versions=(0, 12),
        flexible="9+",
        request=[
            F(
                "topics",
                "[]MetadataRequestTopic",
                "0+",
                F("topic_id", "uuid", "10+", ignorable=True),
                F("name", "string", "0+", nullable="10+"),
                nullable="1+",
            ),
            F("allow_auto_topic_creation", "bool", "4+", default=True),
            F("include_cluster_authorized_operations", "bool", "8-10"),
            F("include_topic_authorized_operations", "bool", "8+"),
        ],
        response=[
            F("throttle_time_ms", "int32", "3+", ignorable=True),
            F(
                "brokers",
                "[]MetadataResponseBroker",
                "0+",
                F("node_id", "int32"),
                F("host", "string"),
                F("port", "int32"),
                F("rack", "string", "1+", nullable="1+", default=None, ignorable=True),
            ),
            F("cluster_id", "string", "2+", nullable="2+", default=None, ignorable=True),
            F("controller_id", "int32", "1+", default=-1, ignorable=True),
            F(
                "topics",
                "[]MetadataResponseTopic",
                "0+",
                F("error_code", "int16"),
                F("name", "string", "0+", nullable="12+"),
                F("topic_id", "uuid", "10+", ignorable=True),
                F("is_internal", "bool", "1+", default=False, ignorable=True),
                F(
                    "partitions",
                    "[]MetadataResponsePartition",
                    "0+",
                    F("error_code", "int16"),
                    F("partition_index", "int32"),
                    F("leader_id", "int32"),
                    F("leader_epoch", "int32", "7+", default=-1, ignorable=True),
                    F("replica_nodes", "[]int32"),
                    F("isr_nodes", "[]int32"),
                    F("offline_replicas", "[]int32", "5+", ignorable=True),
                ),
                F("topic_authorized_operations", "int32", "8+", default=-2147483648),
            ),
            F("cluster_authorized_operations", "int32", "8-10", default=-2147483648),
        ],
    )
)
