"""DescribeCluster v0-1: the cluster id, the controller and the brokers, as Metadata reports them.

The brokers are the live ones, on the client's listener, and the controller the lowest live id, as in Metadata; the
cluster id is metadata.CLUSTER_ID. cluster_authorized_operations is -2147483648 ("not asked")
unless the request asks for it; then, as Kafka, 0 to a principal that may not DESCRIBE the cluster,
else the bitfield of what it may do (every cluster operation with `--authorizer none`); nothing
else is refused. endpoint_type (v1) is 1, brokers.

Errors: MISMATCHED_ENDPOINT_TYPE (114) when v1 asks for controllers (2), which a broker
endpoint does not list; UNSUPPORTED_ENDPOINT_TYPE (115) for any other endpoint type.
(Kafka answers INVALID_REQUEST (42) to v0 for these, but v0 cannot carry an endpoint type.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers.metadata import CLUSTER_ID
from streamhouse.broker.security.authorizer import CLUSTER_NAME, ResourceType
from streamhouse.protocol.apis.describe_cluster import DESCRIBE_CLUSTER
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.describe_cluster import DescribeClusterBroker as BrokerEntry
from streamhouse.protocol.messages.describe_cluster import DescribeClusterRequest
from streamhouse.protocol.messages.describe_cluster import DescribeClusterResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

BROKERS_ENDPOINT = 1
CONTROLLERS_ENDPOINT = 2


async def handle_describe_cluster(
    broker: Broker, request: Request[DescribeClusterRequest], connection: Connection
) -> Response:
    endpoint_type = request.body.endpoint_type if request.version >= 1 else BROKERS_ENDPOINT
    if endpoint_type != BROKERS_ENDPOINT:
        if endpoint_type == CONTROLLERS_ENDPOINT:
            error = ErrorCode.MISMATCHED_ENDPOINT_TYPE
            message = "the request was sent to an endpoint of type BROKER, but it asked for one of type CONTROLLER"
        else:
            error, message = ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"unsupported endpoint type {endpoint_type}"
        return Response(error_code=error, error_message=message, cluster_id="")
    cluster = broker.cluster
    return Response(
        error_code=ErrorCode.NONE,
        error_message=None,
        cluster_id=CLUSTER_ID,
        controller_id=cluster.controller_id,
        brokers=[
            BrokerEntry(broker_id=info.broker_id, host=host, port=port, rack=None)
            for info in cluster.brokers
            for host, port in [info.address(connection.listener.name)]
        ],
        cluster_authorized_operations=broker.authorizer.operations_field(
            connection, request.body.include_cluster_authorized_operations, ResourceType.CLUSTER, CLUSTER_NAME
        ),
    )


HANDLES = {DESCRIBE_CLUSTER.key: handle_describe_cluster}
