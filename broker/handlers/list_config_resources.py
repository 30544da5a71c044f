"""ListConfigResources v0-1: the resources that have configs (KIP-1142; v0 was ListClientMetricsResources).

v0 lists client metrics resources only. v1 lists the resource types asked for, or all of them
when the list is empty: TOPIC (2), every topic by name; BROKER (4), every live broker by id;
CLIENT_METRICS (16) and GROUP (32), none (StreamHouse keeps no client metrics subscriptions and
no per-group configs). Each resource carries its type (v1).

Errors: UNSUPPORTED_VERSION (35) at the top, with no resources, when a type outside those four is
asked for (BROKER_LOGGER (8) among them: broker loggers have no configs here), as Kafka answers
a type it does not support.

With the ACL authorizer, DESCRIBE_CONFIGS on the cluster is needed, else
CLUSTER_AUTHORIZATION_FAILED (31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.list_config_resources import CLIENT_METRICS_RESOURCE, LIST_CONFIG_RESOURCES
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.list_config_resources import ConfigResource as Resource
from streamhouse.protocol.messages.list_config_resources import ListConfigResourcesRequest
from streamhouse.protocol.messages.list_config_resources import ListConfigResourcesResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

TOPIC_RESOURCE, BROKER_RESOURCE, GROUP_RESOURCE = 2, 4, 32
LISTABLE = (TOPIC_RESOURCE, BROKER_RESOURCE, CLIENT_METRICS_RESOURCE, GROUP_RESOURCE)


async def handle_list_config_resources(
    broker: Broker, request: Request[ListConfigResourcesRequest], connection: Connection
) -> Response:
    if request.version == 0:
        wanted: list[int] = [CLIENT_METRICS_RESOURCE]
    else:
        wanted = list(request.body.resource_types) or list(LISTABLE)
    if any(resource_type not in LISTABLE for resource_type in wanted):
        return Response(error_code=ErrorCode.UNSUPPORTED_VERSION)
    if denied := broker.authorizer.cluster_error(connection, Operation.DESCRIBE_CONFIGS):
        return Response(error_code=denied)
    resources = []
    if TOPIC_RESOURCE in wanted:
        topics = await broker.topics.all()
        resources += [Resource(resource_name=topic.name, resource_type=TOPIC_RESOURCE) for topic in topics]
    if BROKER_RESOURCE in wanted:
        resources += [
            Resource(resource_name=str(broker_id), resource_type=BROKER_RESOURCE)
            for broker_id in broker.cluster.broker_ids
        ]
    return Response(error_code=ErrorCode.NONE, config_resources=resources)


HANDLES = {LIST_CONFIG_RESOURCES.key: handle_list_config_resources}
