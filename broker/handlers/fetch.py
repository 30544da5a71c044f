"""Fetch v4-17: committed batches from the partition log, with long polling.

Each partition returns the batches from the one holding fetch_offset on, up to
partition_max_bytes, and the whole response up to max_bytes, except that the first batch
of the response is always whole even when larger (KIP-74), so consumers never stall.
The request waits up to max_wait_ms until min_bytes are available, woken by commits.
Fetch sessions are not kept: session_id 0 tells clients to send full fetches. A partition's
batches stay the buffers the log's caches hold, and go out in one vectored write, uncopied.
last_stable_offset is the first offset of the partition's oldest open transaction, else the
high watermark. isolation_level 1 (read_committed) returns no batch at or past it, and the
aborted transactions (producer id, first offset) with batches in the range it may return, for
the client to drop; a long poll waits for the marker that moves it (markers are commits).
The partition's transactions come from a cache (storage/transactions.py) that the store's
change reports keep fresh: no metadata look-up per fetch.

Errors per partition: TOPIC_AUTHORIZATION_FAILED (29) without READ on the topic (a replica's
fetch, replica_id >= 0: without CLUSTER_ACTION on the cluster); UNKNOWN_TOPIC_OR_PARTITION (3); OFFSET_OUT_OF_RANGE (1)
for an offset below the log start or above the high watermark; KAFKA_STORAGE_ERROR (56, retriable:
clients refresh metadata and fetch again) when the metadata store is unreachable and the
caches (topics, high watermarks, index entries, object ranges) cannot answer alone, when the
object store fails, and when an index entry names an object the store does not have (it was
deleted or lost: logged once, and listed by /ready); the other partitions are answered as usual
and the connection stays open. Kafka's internal topics (`__consumer_offsets`,
`__transaction_state`) answer as empty partitions.

From v13 topics are named by id: an id no topic has answers UNKNOWN_TOPIC_ID (100) for each of its
partitions. v15 moves the replica's id into replica_state. Any broker serves any partition, so
NOT_LEADER_OR_FOLLOWER is never answered and KIP-951's current-leader and node-endpoint hints
(v12+, v16+) stay empty, as Kafka leaves them without that error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.metadata.base import MetadataUnavailableError
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.fetch import AbortedTransaction, FetchRequest, PartitionData
from streamhouse.protocol.messages.fetch import FetchableTopicResponse as TopicResponse
from streamhouse.protocol.messages.fetch import FetchResponse as Response
from streamhouse.protocol.records import iter_batches
from streamhouse.storage.objects.base import ObjectNotFoundError, ObjectStoreUnavailableError
from streamhouse.storage.transactions import aborted_between

if TYPE_CHECKING:
    from uuid import UUID

    from streamhouse.broker.app import Broker
    from streamhouse.broker.metrics import BrokerStats
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

READ_COMMITTED = 1
TOPIC_IDS_VERSION = 13
REPLICA_STATE_VERSION = 15


async def handle_fetch(broker: Broker, request: Request[FetchRequest], connection: Connection) -> Response:
    body = request.body
    started = time.monotonic()
    deadline = started + max(body.max_wait_ms, 0) / 1000
    waited = 0.0
    by_id = request.version >= TOPIC_IDS_VERSION
    replica_id = body.replica_state.replica_id if request.version >= REPLICA_STATE_VERSION else body.replica_id
    while True:
        topics, size, keys, failed = await _read_once(broker, body, connection, by_id, replica_id)
        now = time.monotonic()
        remaining = deadline - now
        if size >= body.min_bytes or failed or remaining <= 0 or not keys:
            if broker.metrics is not None:
                _observe(broker.metrics.stats, body, topics, now - started - waited)
            return Response(error_code=ErrorCode.NONE, session_id=0, responses=topics)
        await broker.log.wait_for_append(keys, remaining)
        waited += time.monotonic() - now


def _observe(stats: BrokerStats, body: FetchRequest, topics: list[TopicResponse], seconds: float) -> None:
    """Records and bytes returned per topic, errors per partition, and the time not spent long-polling."""
    stats.fetch_seconds.observe(seconds)
    for fetch_topic, answer in zip(body.topics, topics, strict=True):
        for wanted, partition in zip(fetch_topic.partitions, answer.partitions, strict=True):
            stats.fetched(answer.topic, wanted.fetch_offset, partition.error_code, partition.records or b"")


async def _read_once(
    broker: Broker, body: FetchRequest, connection: Connection, by_id: bool, replica_id: int
) -> tuple[list[TopicResponse], int, list[tuple[UUID, int]], bool]:
    budget = body.max_bytes if body.max_bytes > 0 else 2**31 - 1
    size = 0
    failed = False
    keys = []
    topics = []
    for fetch_topic in body.topics:
        try:
            if by_id:
                topic = await broker.topics.get_by_id(fetch_topic.topic_id)
                missing = ErrorCode.UNKNOWN_TOPIC_ID
                fetch_topic.topic = "" if topic is None else topic.name
            else:
                topic = await broker.topics.get(fetch_topic.topic)
                missing = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        except MetadataUnavailableError:
            topic, missing = None, ErrorCode.KAFKA_STORAGE_ERROR
        # --authorizer none costs the hot path one attribute read; an unknown id has no name to check
        known = topic is not None or not by_id
        if broker.authorizer.enabled and known and _refused(broker, connection, replica_id, fetch_topic.topic):
            topic, missing = None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
        partitions = []
        for wanted in fetch_topic.partitions:
            # Empty, not null, records: kafka-python cannot read a null record set.
            entry = PartitionData(
                partition_index=wanted.partition, high_watermark=-1, last_stable_offset=-1, records=b""
            )
            partitions.append(entry)
            if topic is None or not 0 <= wanted.partition < topic.partitions:
                entry.error_code = missing
                failed = True
                continue
            try:
                state = await broker.log.state(topic.topic_id, wanted.partition)
                transactions = await broker.transaction_states.get(topic.topic_id, wanted.partition)
                entry.high_watermark = state.high_watermark
                entry.last_stable_offset = stable = transactions.last_stable_offset(state.high_watermark)
                entry.log_start_offset = state.log_start_offset
                if not state.log_start_offset <= wanted.fetch_offset <= state.high_watermark:
                    entry.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
                    failed = True
                    continue
                keys.append((topic.topic_id, wanted.partition))
                end = stable if body.isolation_level == READ_COMMITTED else state.high_watermark
                if wanted.fetch_offset >= end:
                    continue
                limit = min(wanted.partition_max_bytes, budget - size)
                # Only the response's first batch may exceed the limits (KIP-74).
                chunks = await broker.log.read(topic.topic_id, wanted.partition, wanted.fetch_offset, limit, size == 0)
                if end < state.high_watermark:
                    chunks = _before(chunks, end)
                if body.isolation_level == READ_COMMITTED:
                    entry.aborted_transactions = [
                        AbortedTransaction(producer_id=aborted.producer_id, first_offset=aborted.first_offset)
                        for aborted in aborted_between(transactions, wanted.fetch_offset, end - 1)
                    ]
            except (MetadataUnavailableError, ObjectNotFoundError, ObjectStoreUnavailableError):
                entry.error_code = ErrorCode.KAFKA_STORAGE_ERROR
                failed = True
                continue
            if chunks:
                # The batches as read, not joined: the response's frame takes them by reference.
                entry.records = chunks
                size += sum(map(len, chunks))
        topics.append(TopicResponse(topic=fetch_topic.topic, topic_id=fetch_topic.topic_id, partitions=partitions))
    return topics, size, keys, failed


def _refused(broker: Broker, connection: Connection, replica_id: int, topic: str) -> bool:
    """A consumer needs READ on the topic; a replica (replica_id >= 0) CLUSTER_ACTION on the cluster."""
    if replica_id >= 0:
        return bool(broker.authorizer.cluster_error(connection, Operation.CLUSTER_ACTION))
    return bool(broker.authorizer.topic_error(connection, Operation.READ, topic))


def _before(chunks: list[bytes], offset: int) -> list[bytes]:
    """The batches of `chunks` (patched with their offsets) below `offset`."""
    kept: list[bytes] = []
    for chunk in chunks:
        position = 0
        for header, batch in iter_batches(chunk, verify_crc=False):
            if header.base_offset >= offset:
                if position:
                    kept.append(chunk[:position])
                return kept
            position += len(batch)
        kept.append(chunk)
    return kept


HANDLES = {FETCH.key: handle_fetch}
