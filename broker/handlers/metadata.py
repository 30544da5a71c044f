"""Metadata v0-12: brokers, cluster id, controller, and topics with their partitions.

The brokers are the live ones as this broker last saw them (broker/cluster.py: heartbeats in
the metadata store, always including this broker), each at its address on the listener the
client connected through (broker/security/listeners.py); the controller is the lowest live id. Each
partition's leader (its only replica and ISR) is its preferred broker, chosen by a stable hash
over the live brokers, so that a partition's producers and consumers meet on one broker and
its tail cache. Any broker still serves any partition: the metadata store orders writes, and
Produce and Fetch never answer NOT_LEADER_OR_FOLLOWER. Unknown topics are created when the
broker allows auto-creation and the request does (v4+); otherwise they get
UNKNOWN_TOPIC_OR_PARTITION (3). Invalid names get INVALID_TOPIC_EXCEPTION (17), and so do
names an auto-creation would make collide on '.' and '_' with an existing topic. A null topic
list (v1+) or an empty one (v0) means all topics: without the ACL authorizer that answer is built
and encoded in a worker thread, once per (version, cluster view, listener, authorized-operations
flags) until a topic changes (TopicCache.derived), as it is large with many topics; each topic's entry
is kept encoded, so that after a change only the changed topics are encoded again. Kafka's internal
topics `__consumer_offsets` and `__transaction_state` are always listed, with is_internal (v1+):
clients leave them out unless told not to.

With the ACL authorizer, all topics means those the principal may DESCRIBE; a named topic it may
not DESCRIBE gets TOPIC_AUTHORIZATION_FAILED (29), as does one to auto-create without CREATE on
the cluster or the topic. The authorized-operations bitfields (v8+) are filled when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar, cast

from streamhouse.broker.cluster import ClusterView
from streamhouse.broker.security.authorizer import CLUSTER_NAME, UNKNOWN_AUTHORIZED_OPERATIONS, Operation, ResourceType
from streamhouse.broker.topics import INTERNAL_TOPICS, is_internal
from streamhouse.metadata.base import TopicInfo
from streamhouse.metadata.gil import sharing_the_gil
from streamhouse.protocol import wire
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponseBroker
from streamhouse.protocol.messages.metadata import MetadataResponse as Response
from streamhouse.protocol.messages.metadata import MetadataResponsePartition as Partition
from streamhouse.protocol.messages.metadata import MetadataResponseTopic as Topic
from streamhouse.protocol.primitives import EncodedElements

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

CLUSTER_ID = "streamhouse-cluster"
TopicEntry = TypeVar("TopicEntry")


@dataclass(frozen=True, slots=True)
class AllTopicsAnswer:
    """An encoded all-topics answer and its pieces, each topic's encoded entry, reused by the next build
    for the topics that did not change. No object per topic besides the piece: a build of tens of
    thousands would otherwise bring on full garbage collections, which hold the GIL throughout."""

    body: wire.EncodedBody
    pieces: dict[str, bytes]
    sources: dict[str, TopicInfo]  # the topics the pieces were encoded from


def _same_entry(before: TopicInfo, now: TopicInfo) -> bool:
    """Whether a topic's Metadata entry is unchanged (its configs are not in it)."""
    return before is now or (before.topic_id == now.topic_id and before.partitions == now.partitions)


def topic_entry(
    cluster: ClusterView,
    topic: TopicInfo,
    topic_class: Callable[..., TopicEntry],
    partition_class: Callable[..., object],
    partitions: Iterable[int] | None = None,
    authorized_operations: int = UNKNOWN_AUTHORIZED_OPERATIONS,
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
        topic_authorized_operations=authorized_operations,
    )


async def handle_metadata(
    broker: Broker, request: Request[MetadataRequest], connection: Connection
) -> Response | wire.EncodedBody:
    body = request.body
    cluster = broker.cluster  # one view for the whole answer, though a heartbeat may replace it meanwhile
    authorizer = broker.authorizer
    listener = connection.listener.name
    include_cluster = body.include_cluster_authorized_operations
    include_topics = body.include_topic_authorized_operations

    def entry(topic: TopicInfo) -> Topic:
        operations = authorizer.operations_field(connection, include_topics, ResourceType.TOPIC, topic.name)
        return topic_entry(cluster, topic, Topic, Partition, authorized_operations=operations)

    def response(entries: list[Topic]) -> Response:
        return Response(
            brokers=[
                MetadataResponseBroker(node_id=info.broker_id, host=host, port=port, rack=None)
                for info in cluster.brokers
                for host, port in [info.address(listener)]
            ],
            cluster_id=CLUSTER_ID,
            controller_id=cluster.controller_id,
            topics=entries,
            cluster_authorized_operations=authorizer.operations_field(
                connection, include_cluster, ResourceType.CLUSTER, CLUSTER_NAME
            ),
        )

    if body.topics is None or (request.version == 0 and not body.topics):
        if authorizer.enabled:  # each principal sees its own list: built here, not shared
            listed = (*INTERNAL_TOPICS.values(), *await broker.topics.all())
            return response(
                [entry(t) for t in listed if authorizer.may_describe(connection, ResourceType.TOPIC, t.name)]
            )
        version = request.version

        def encoded(topics: list[TopicInfo], last: AllTopicsAnswer | None) -> AllTopicsAnswer:
            encode_entry = METADATA.response.element_encoder("topics", version)
            known = last or AllTopicsAnswer(wire.EncodedBody(b""), {}, {})
            pieces = {}
            for topic in sharing_the_gil((*INTERNAL_TOPICS.values(), *topics)):
                piece = known.pieces.get(topic.name)
                if piece is None or not _same_entry(known.sources[topic.name], topic):
                    piece = encode_entry(entry(topic))
                pieces[topic.name] = piece
            elements = EncodedElements(len(pieces), b"".join(pieces.values()))
            body = wire.encode_body(request.api, version, response(cast(list[Topic], elements)))
            return AllTopicsAnswer(body, pieces, {topic.name: topic for topic in topics} | INTERNAL_TOPICS)

        key = ("metadata", version, cluster, listener, include_cluster, include_topics)
        return (await broker.topics.derived(key, encoded)).body
    may_create = broker.config.auto_create_topics and (request.version < 4 or body.allow_auto_topic_creation)
    return response([await _requested_topic(broker, connection, wanted, may_create, entry) for wanted in body.topics])


async def _requested_topic(
    broker: Broker,
    connection: Connection,
    wanted: MetadataRequestTopic,
    may_create: bool,
    entry: Callable[[TopicInfo], Topic],
) -> Topic:
    authorizer = broker.authorizer
    if wanted.name is None:
        topic = await broker.topics.get_by_id(wanted.topic_id)
        if topic is not None and authorizer.topic_error(connection, Operation.DESCRIBE, topic.name):
            return Topic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=None, topic_id=wanted.topic_id)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None, topic_id=wanted.topic_id)
        return entry(topic)
    denied = authorizer.topic_error(connection, Operation.DESCRIBE, wanted.name)
    if denied:
        return Topic(error_code=denied, name=wanted.name)
    partitions = broker.config.num_partitions if may_create else None
    creator = partial(authorizer.may_create_topic, connection)
    found, error = await broker.topics.resolve(wanted.name, partitions, creator)
    if found is None:
        return Topic(error_code=error, name=wanted.name)
    return entry(found)


HANDLES = {METADATA.key: handle_metadata}
