"""Metadata v0-12: brokers, cluster id, controller, and topics with their partitions.

The brokers are the live ones as this broker last saw them (broker/cluster.py: heartbeats in
the metadata store, always including this broker); the controller is the lowest live id. Each
partition's leader (its only replica and ISR) is its preferred broker, chosen by a stable hash
over the live brokers, so that a partition's producers and consumers meet on one broker and
its tail cache. Any broker still serves any partition: the metadata store orders writes, and
Produce and Fetch never answer NOT_LEADER_OR_FOLLOWER. Unknown topics are created when the
broker allows auto-creation and the request does (v4+); otherwise they get
UNKNOWN_TOPIC_OR_PARTITION (3). Invalid names get INVALID_TOPIC_EXCEPTION (17), and so do
names an auto-creation would make collide on '.' and '_' with an existing topic. A null topic
list (v1+) or an empty one (v0) means all topics: that answer is built and encoded in a worker
thread, once per (version, cluster view) until a topic changes (TopicCache.derived), as it is
large with many topics. Kafka's internal topics `__consumer_offsets` and `__transaction_state`
are always listed, with is_internal (v1+): clients leave them out unless told not to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from broker.cluster import ClusterView
from broker.topics import INTERNAL_TOPICS, is_internal
from metadata.base import TopicInfo
from protocol import wire
from protocol.apis.metadata import METADATA
from protocol.errors import ErrorCode
from protocol.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponseBroker
from protocol.messages.metadata import MetadataResponse as Response
from protocol.messages.metadata import MetadataResponsePartition as Partition
from protocol.messages.metadata import MetadataResponseTopic as Topic

if TYPE_CHECKING:
    from broker.app import Broker
    from broker.server import Connection
    from protocol.wire import Request

CLUSTER_ID = "streamhouse-cluster"
UNKNOWN_AUTHORIZED_OPERATIONS = -(2**31)
TopicEntry = TypeVar("TopicEntry")


def topic_entry(
    cluster: ClusterView,
    topic: TopicInfo,
    topic_class: Callable[..., TopicEntry],
    partition_class: Callable[..., object],
    partitions: Iterable[int] | None = None,
) -> TopicEntry:
    """A topic and its partitions (all, or those given), each led by its preferred broker, its only
    replica and ISR member, at epoch 0. DescribeTopicPartitions answers the same shape in its classes."""
    indexes = range(topic.partitions) if partitions is None else partitions
    entries = []
    for index in indexes:
        leader = cluster.partition_leader(topic.name, index)
        entries.append(
            partition_class(
                error_code=ErrorCode.NONE,
                partition_index=index,
                leader_id=leader,
                leader_epoch=0,
                replica_nodes=[leader],
                isr_nodes=[leader],
            )
        )
    return topic_class(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=is_internal(topic.name),
        partitions=entries,
        topic_authorized_operations=UNKNOWN_AUTHORIZED_OPERATIONS,
    )


async def handle_metadata(
    broker: Broker, request: Request[MetadataRequest], connection: Connection
) -> Response | wire.EncodedBody:
    body = request.body
    cluster = broker.cluster  # one view for the whole answer, though a heartbeat may replace it meanwhile
    if body.topics is None or (request.version == 0 and not body.topics):
        version = request.version

        def encoded(topics: list[TopicInfo]) -> wire.EncodedBody:
            entries = [topic_entry(cluster, topic, Topic, Partition) for topic in (*INTERNAL_TOPICS.values(), *topics)]
            return wire.encode_body(request.api, version, _response(cluster, entries))

        return await broker.topics.derived(("metadata", version, cluster), encoded)
    may_create = broker.config.auto_create_topics and (request.version < 4 or body.allow_auto_topic_creation)
    entries = [await _requested_topic(broker, cluster, wanted, may_create) for wanted in body.topics]
    return _response(cluster, entries)


def _response(cluster: ClusterView, entries: list[Topic]) -> Response:
    return Response(
        brokers=[
            MetadataResponseBroker(node_id=info.broker_id, host=info.host, port=info.port, rack=None)
            for info in cluster.brokers
        ],
        cluster_id=CLUSTER_ID,
        controller_id=cluster.controller_id,
        topics=entries,
    )


async def _requested_topic(
    broker: Broker, cluster: ClusterView, wanted: MetadataRequestTopic, may_create: bool
) -> Topic:
    if wanted.name is None:
        topic = await broker.topics.get_by_id(wanted.topic_id)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None, topic_id=wanted.topic_id)
        return topic_entry(cluster, topic, Topic, Partition)
    partitions = broker.config.num_partitions if may_create else None
    found, error = await broker.topics.resolve(wanted.name, partitions)
    if found is None:
        return Topic(error_code=error, name=wanted.name)
    return topic_entry(cluster, found, Topic, Partition)


HANDLES = {METADATA.key: handle_metadata}
