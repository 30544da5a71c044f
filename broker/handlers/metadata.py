"""Metadata v0-12: brokers, cluster id, controller, and topics with their partitions.

Every partition's leader is this broker (any broker may serve any partition; the metadata
store orders writes). Unknown topics are created when the broker allows auto-creation and
the request does (v4+); otherwise they get UNKNOWN_TOPIC_OR_PARTITION (3). Invalid names
get INVALID_TOPIC_EXCEPTION (17). A null topic list (v1+) or an empty one (v0) means all topics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metadata.base import TopicInfo
from protocol.apis.metadata import METADATA
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.app import Broker
    from broker.server import Connection
    from protocol.wire import Request

CLUSTER_ID = "streamhouse-cluster"
UNKNOWN_AUTHORIZED_OPERATIONS = -(2**31)

Response: Any = METADATA.Response
Topic: Any = Response.MetadataResponseTopic
Partition: Any = Topic.MetadataResponsePartition


def topic_entry(broker: Broker, topic: TopicInfo) -> Any:
    node = broker.config.broker_id
    return Topic(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.topic_id,
        partitions=[
            Partition(
                error_code=ErrorCode.NONE,
                partition_index=index,
                leader_id=node,
                leader_epoch=0,
                replica_nodes=[node],
                isr_nodes=[node],
            )
            for index in range(topic.partitions)
        ],
        topic_authorized_operations=UNKNOWN_AUTHORIZED_OPERATIONS,
    )


async def handle_metadata(broker: Broker, request: Request, connection: Connection) -> Any:
    body = request.body
    wants_all = body.topics is None or (request.version == 0 and not body.topics)
    entries = []
    if wants_all:
        entries = [topic_entry(broker, topic) for topic in await broker.topics.all()]
    else:
        may_create = broker.config.auto_create_topics and (request.version < 4 or body.allow_auto_topic_creation)
        for wanted in body.topics:
            entries.append(await _requested_topic(broker, wanted, may_create))
    return Response(
        brokers=[
            Response.MetadataResponseBroker(node_id=info.broker_id, host=info.host, port=info.port, rack=None)
            for info in [broker.info]
        ],
        cluster_id=CLUSTER_ID,
        controller_id=broker.config.broker_id,
        topics=entries,
    )


async def _requested_topic(broker: Broker, wanted: Any, may_create: bool) -> Any:
    if wanted.name is None:
        topic = await broker.metadata.get_topic_by_id(wanted.topic_id)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None, topic_id=wanted.topic_id)
        return topic_entry(broker, topic)
    partitions = broker.config.num_partitions if may_create else None
    found, error = await broker.topics.resolve(wanted.name, partitions)
    if found is None:
        return Topic(error_code=error, name=wanted.name)
    return topic_entry(broker, found)


HANDLES = {METADATA.key: handle_metadata}
