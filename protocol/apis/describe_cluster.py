"""DescribeCluster (key 60), versions 0-1.

Our declaration of Kafka's DescribeClusterRequest/Response fields. Flexible from v0; v1 adds
the endpoint type (brokers or controllers) to both request and response.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_CLUSTER = register(
    declare(
        60,
        "DescribeCluster",
        versions=(0, 1),
        flexible="0+",
        request=[
            F("include_cluster_authorized_operations", "bool"),
            F("endpoint_type", "int8", "1+", default=1),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16"),
            F("error_message", "string", "0+", nullable="0+", default=None),
            F("endpoint_type", "int8", "1+", default=1),
            F("cluster_id", "string"),
            F("controller_id", "int32", "0+", default=-1),
            F(
                "brokers",
                "[]DescribeClusterBroker",
                "0+",
                F("broker_id", "int32"),
                F("host", "string"),
                F("port", "int32"),
                F("rack", "string", "0+", nullable="0+", default=None),
            ),
            F("cluster_authorized_operations", "int32", "0+", default=-2147483648),
        ],
    )
)
