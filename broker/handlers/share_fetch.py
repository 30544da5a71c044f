"""ShareFetch v1 and ShareAcknowledge v1: records of share-partitions, acquired under a time-limited lock.

ShareFetch first applies the acknowledgements it carries (ACCEPT acknowledges, RELEASE makes a record
available again, or archives it past the group's delivery count limit, REJECT and GAP archive), then
acquires for the member up to max_records available records of the partitions in its share session,
under a lock of the group's share.record.lock.duration.ms (an expired lock makes its records available
again), and returns the batches holding them with the acquired ranges and delivery counts; the client
drops what lies outside the ranges (max_bytes 0: it acquires nothing). It waits up to max_wait_ms
until min_bytes are acquired, woken by
appends and lock expiries. With share.isolation.level read_committed, nothing at or past the last
stable offset is acquired. Epoch 0 opens a share session, -1 closes it (acknowledging, fetching
nothing, releasing what the member holds); otherwise the epoch must be the session's next, or
the request is refused whole (its acknowledgements are not applied).
ShareAcknowledge applies acknowledgements only, under the same session rules.

Errors: top-level GROUP_AUTHORIZATION_FAILED (30) without READ on the group, INVALID_REQUEST (42) for
an empty group or member id, SHARE_SESSION_NOT_FOUND (122), INVALID_SHARE_SESSION_EPOCH (123); per
partition TOPIC_AUTHORIZATION_FAILED (29) without READ on the topic, UNKNOWN_TOPIC_ID (100),
UNKNOWN_TOPIC_OR_PARTITION (3), KAFKA_STORAGE_ERROR (56) when a store fails; acknowledge error
INVALID_RECORD_STATE (121) for a record the member does not hold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.security.authorizer import Operation
from streamhouse.broker.share.partitions import CLOSE_SESSION_EPOCH, PartitionKey, SessionError
from streamhouse.metadata.base import AbortedTransaction, MetadataUnavailableError
from streamhouse.protocol.apis.share_acknowledge import SHARE_ACKNOWLEDGE
from streamhouse.protocol.apis.share_fetch import SHARE_FETCH
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages import share_acknowledge as ack_messages
from streamhouse.protocol.messages import share_fetch as fetch_messages
from streamhouse.protocol.records import BatchHeader, iter_batches
from streamhouse.storage.objects.base import ObjectNotFoundError, ObjectStoreUnavailableError
from streamhouse.storage.transactions import aborted_between

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.broker.share.configs import ShareSettings
    from streamhouse.broker.share.partition import Acquired
    from streamhouse.protocol.wire import Request

AckBatches = list[tuple[int, int, list[int]]]
_STORE_FAILURES = (MetadataUnavailableError, ObjectNotFoundError, ObjectStoreUnavailableError)


@dataclass
class _Partition:
    """One partition's answer as it builds up over the long poll."""

    error: ErrorCode = ErrorCode.NONE
    acknowledge_error: ErrorCode = ErrorCode.NONE
    batches: list[bytes] = field(default_factory=list)
    acquired: list[Acquired] = field(default_factory=list)
    acknowledged: bool = False  # the request acknowledged records of the partition: it is answered

    @property
    def size(self) -> int:
        return sum(map(len, self.batches))


async def _resolve(broker: Broker, connection: Connection, topic_id: UUID, partition: int) -> ErrorCode | str:
    """The topic's name, or why the member may not use the partition."""
    try:
        topic = await broker.topics.get_by_id(topic_id)
    except MetadataUnavailableError:
        return ErrorCode.KAFKA_STORAGE_ERROR
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_ID
    if denied := broker.authorizer.topic_error(connection, Operation.READ, topic.name):
        return denied
    if not 0 <= partition < topic.partitions:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return topic.name


async def _acknowledge(
    broker: Broker,
    connection: Connection,
    group_id: str,
    member_id: str,
    requested: dict[PartitionKey, AckBatches],
    answers: dict[PartitionKey, _Partition],
) -> None:
    for (topic_id, partition), batches in requested.items():
        answer = answers.setdefault((topic_id, partition), _Partition())
        answer.acknowledged = True
        resolved = await _resolve(broker, connection, topic_id, partition)
        if isinstance(resolved, ErrorCode):
            answer.acknowledge_error = resolved
            continue
        try:
            answer.acknowledge_error = await broker.share_partitions.acknowledge(
                group_id, member_id, topic_id, partition, batches
            )
        except MetadataUnavailableError:
            answer.acknowledge_error = ErrorCode.KAFKA_STORAGE_ERROR


async def _acquire_once(
    broker: Broker,
    connection: Connection,
    group_id: str,
    member_id: str,
    keys: list[PartitionKey],
    settings: ShareSettings,
    max_records: int,
    budget: int,
    answers: dict[PartitionKey, _Partition],
) -> None:
    shares = broker.share_partitions
    for topic_id, partition in keys:
        answer = answers.setdefault((topic_id, partition), _Partition())
        taken = sum(a.last_offset - a.first_offset + 1 for p in answers.values() for a in p.acquired)
        size = sum(p.size for p in answers.values())
        if answer.error or taken >= max_records or size >= budget:
            continue
        resolved = await _resolve(broker, connection, topic_id, partition)
        if isinstance(resolved, ErrorCode):
            answer.error = resolved
            continue
        try:
            state = await broker.log.state(topic_id, partition)
            transactions = await broker.transaction_states.get(topic_id, partition)
            end = (
                transactions.last_stable_offset(state.high_watermark)
                if settings.read_committed
                else state.high_watermark
            )
            share = await shares.partition(
                group_id, topic_id, partition, settings, state.log_start_offset, state.high_watermark
            )
            first = share.first_available(shares.clock.now_ms(), end)
            if first is None:
                continue
            chunks = await broker.log.read(topic_id, partition, first, budget - size, size == 0)
        except _STORE_FAILURES:
            answer.error = ErrorCode.KAFKA_STORAGE_ERROR
            continue
        batches = [(header, view) for chunk in chunks for header, view in iter_batches(chunk, verify_crc=False)]
        if not batches:
            continue
        last = min(batches[-1][0].last_offset, end - 1)
        aborted = aborted_between(transactions, first, last) if settings.read_committed else []
        for header, _ in batches:
            if header.is_control or (header.is_transactional and _aborted(header, aborted)):
                shares.archive(share, group_id, header.base_offset, min(header.last_offset, last))
        runs = shares.acquire(share, group_id, member_id, first, last, max_records - taken, settings.lock_duration_ms)
        if not runs:
            continue
        low, high = runs[0].first_offset, runs[-1].last_offset
        answer.batches += [
            bytes(view) for header, view in batches if header.last_offset >= low and header.base_offset <= high
        ]
        answer.acquired += runs


def _aborted(header: BatchHeader, aborted: list[AbortedTransaction]) -> bool:
    return any(
        a.producer_id == header.producer_id and a.first_offset <= header.base_offset <= a.last_offset for a in aborted
    )


async def handle_share_fetch(
    broker: Broker, request: Request[fetch_messages.ShareFetchRequest], connection: Connection
) -> fetch_messages.ShareFetchResponse:
    body = request.body
    group_id, member_id = body.group_id or "", body.member_id or ""
    response = fetch_messages.ShareFetchResponse()
    if denied := broker.authorizer.group_error(connection, Operation.READ, group_id):
        response.error_code = denied
        return response
    if not group_id or not member_id:
        response.error_code = ErrorCode.INVALID_REQUEST
        return response
    settings = await broker.share_partitions.settings(group_id)
    response.acquisition_lock_timeout_ms = settings.lock_duration_ms
    acks = {
        (t.topic_id, p.partition_index): [
            (b.first_offset, b.last_offset, list(b.acknowledge_types)) for b in p.acknowledgement_batches
        ]
        for t in body.topics
        for p in t.partitions
        if p.acknowledgement_batches
    }
    added = [(t.topic_id, p.partition_index) for t in body.topics for p in t.partitions]
    forgotten = [(t.topic_id, p) for t in body.forgotten_topics_data for p in t.partitions]
    answers: dict[PartitionKey, _Partition] = {}
    try:
        keys = broker.share_partitions.open_session(group_id, member_id, body.share_session_epoch, added, forgotten)
    except SessionError as refused:
        response.error_code = refused.error
        return response
    await _acknowledge(broker, connection, group_id, member_id, acks, answers)
    if body.share_session_epoch == CLOSE_SESSION_EPOCH:
        await broker.share_partitions.release_member(group_id, member_id)
        return _respond(broker, response, answers)
    budget = body.max_bytes if body.max_bytes >= 0 else 2**31 - 1  # 0: acknowledge only, fetch nothing
    max_records = body.max_records if body.max_records > 0 else 500
    deadline = time.monotonic() + max(body.max_wait_ms, 0) / 1000
    while True:
        await _acquire_once(broker, connection, group_id, member_id, keys, settings, max_records, budget, answers)
        acquired = sum(p.size for p in answers.values())
        remaining = deadline - time.monotonic()
        failed = any(p.error for p in answers.values())
        if acquired >= max(body.min_bytes, 1) or failed or remaining <= 0 or not keys:
            return _respond(broker, response, answers)
        expiry = broker.share_partitions.next_lock_expiry_ms([(group_id, *key) for key in keys])
        if expiry is not None:
            remaining = min(remaining, max(expiry - broker.share_partitions.clock.now_ms(), 1) / 1000)
        await broker.log.wait_for_append(keys, remaining)


def _respond(
    broker: Broker, response: fetch_messages.ShareFetchResponse, answers: dict[PartitionKey, _Partition]
) -> fetch_messages.ShareFetchResponse:
    by_topic: dict[UUID, list[fetch_messages.PartitionData]] = {}
    for (topic_id, partition), answer in answers.items():
        if not (answer.error or answer.acknowledged or answer.acquired):
            continue
        by_topic.setdefault(topic_id, []).append(
            fetch_messages.PartitionData(
                partition_index=partition,
                error_code=answer.error,
                acknowledge_error_code=answer.acknowledge_error,
                current_leader=fetch_messages.LeaderIdAndEpoch(leader_id=broker.config.broker_id, leader_epoch=0),
                records=answer.batches,
                acquired_records=[
                    fetch_messages.AcquiredRecords(run.first_offset, run.last_offset, run.delivery_count)
                    for run in answer.acquired
                ],
            )
        )
    response.responses = [
        fetch_messages.ShareFetchableTopicResponse(topic_id=topic_id, partitions=partitions)
        for topic_id, partitions in by_topic.items()
    ]
    return response


async def handle_share_acknowledge(
    broker: Broker, request: Request[ack_messages.ShareAcknowledgeRequest], connection: Connection
) -> ack_messages.ShareAcknowledgeResponse:
    body = request.body
    group_id, member_id = body.group_id or "", body.member_id or ""
    response = ack_messages.ShareAcknowledgeResponse()
    if denied := broker.authorizer.group_error(connection, Operation.READ, group_id):
        response.error_code = denied
        return response
    if not group_id or not member_id:
        response.error_code = ErrorCode.INVALID_REQUEST
        return response
    try:
        broker.share_partitions.check_session(group_id, member_id, body.share_session_epoch)
    except SessionError as refused:
        response.error_code = refused.error
        return response
    acks = {
        (t.topic_id, p.partition_index): [
            (b.first_offset, b.last_offset, list(b.acknowledge_types)) for b in p.acknowledgement_batches
        ]
        for t in body.topics
        for p in t.partitions
    }
    answers: dict[PartitionKey, _Partition] = {}
    await _acknowledge(broker, connection, group_id, member_id, acks, answers)
    if body.share_session_epoch == CLOSE_SESSION_EPOCH:
        await broker.share_partitions.release_member(group_id, member_id)
    by_topic: dict[UUID, list[ack_messages.PartitionData]] = {}
    for (topic_id, partition), answer in answers.items():
        by_topic.setdefault(topic_id, []).append(
            ack_messages.PartitionData(
                partition_index=partition,
                error_code=answer.acknowledge_error,
                current_leader=ack_messages.LeaderIdAndEpoch(leader_id=broker.config.broker_id, leader_epoch=0),
            )
        )
    response.responses = [
        ack_messages.ShareAcknowledgeTopicResponse(topic_id=topic_id, partitions=partitions)
        for topic_id, partitions in by_topic.items()
    ]
    return response


HANDLES = {SHARE_FETCH.key: handle_share_fetch, SHARE_ACKNOWLEDGE.key: handle_share_acknowledge}
