"""Produce v3-12: validate record batches and append them, still compressed, to the partition log.

acks 0 gets no response; acks 1 and -1 are answered once the batches are committed
(object written and offsets assigned in the metadata store): with one copy of the data
in durable storage, "leader" and "all replicas" are the same thing.

Errors per partition: INVALID_REQUIRED_ACKS (21) for acks other than 0, 1, -1;
UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic (when not auto-created) or partition;
INVALID_TOPIC_EXCEPTION (17) for a bad name, one colliding on '.' and '_' with an existing topic's
(auto-creation), and Kafka's internal topics (only the broker writes those);
TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53)
without WRITE on the request's transactional id, else TOPIC_AUTHORIZATION_FAILED (29) without WRITE
on the topic, or, for a topic to auto-create, without CREATE on the cluster or the topic;
INVALID_RECORD (87) for an empty record set or a batch
of a magic other than 2; CORRUPT_MESSAGE (2) for a CRC mismatch or a malformed batch header;
UNSUPPORTED_COMPRESSION_TYPE (76) for zstd in a request before v7; MESSAGE_TOO_LARGE (10) for a
batch above the topic's max.message.bytes (its size as sent, compressed).
Then every record is validated as Kafka's log validator does (protocol/validation.py), off the event
loop for compressed or large requests: CORRUPT_MESSAGE (2) for bytes that do not read as records (a
compressed payload that does not decompress, or decompresses to more than
--max-uncompressed-batch-bytes: decompression stops there); INVALID_RECORD (87) for a record count
that disagrees with lastOffsetDelta or with the records present, offset deltas other than 0..n-1 in
order, a control batch (only the transaction coordinator writes those: transaction markers) or a
producer id without a sequence; INVALID_RECORD (87) for a record without a key sent to a topic whose
cleanup.policy includes compact, and INVALID_TIMESTAMP (32) for a CreateTime timestamp (other than -1)
more than message.timestamp.before.max.ms before or message.timestamp.after.max.ms after the broker's
clock, or a batch the client stamped LogAppendTime: v8+ name each such record in `record_errors`
(KIP-467). Nothing of a partition with an error is appended.
OUT_OF_ORDER_SEQUENCE_NUMBER (45) and INVALID_PRODUCER_EPOCH (47) from the idempotence checks;
KAFKA_STORAGE_ERROR (56, retriable) when the flush failed or the metadata store is unreachable
(PostgreSQL down or restarting): nothing of the batch was committed, or the commit's answer was lost, and
librdkafka (refresh + retry, message not persisted) and kafka-python (KafkaStorageError is
retriable) both resend it with the same producer id and sequence, so a batch that did
commit is answered as the duplicate it is, with its first offset; REQUEST_TIMED_OUT (7)
when it took longer than timeout_ms.
Transactional batches open their producer's transaction on the partition (at their offset,
the partition's last stable offset until the marker). The first batch of a transaction on a
partition goes through the transaction coordinator first (KIP-890): from v12 (transactions v2) it
adds the partition to the transaction; before, the partition must already be in the producer's
ongoing transaction, else TRANSACTION_ABORTABLE (120) from v11, INVALID_TXN_STATE (48) before it;
INVALID_PRODUCER_EPOCH (47) for a batch of another epoch than the transaction's; NOT_ENOUGH_REPLICAS
(19, retriable) while the coordinator cannot answer (the metadata store unreachable, or the
previous transaction's markers being written). Nothing of such a partition is appended.
KIP-951's current-leader and node-endpoint hints (v10+) stay empty: any broker takes any partition,
so NOT_LEADER_OR_FOLLOWER is never answered.
A topic with message.timestamp.type=LogAppendTime gets the time the broker received each
batch (as Kafka stamps it on append), in the batch header. Batches are stored as the client
compressed them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from streamhouse.broker.security.authorizer import Operation
from streamhouse.broker.topics import cleanup_policies, effective_config, is_internal, timestamp_limits_ms
from streamhouse.metadata.base import AppendResult, MetadataUnavailableError, TopicInfo
from streamhouse.protocol import validation
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode, ProtocolError
from streamhouse.protocol.messages.produce import BatchIndexAndErrorMessage as RecordError
from streamhouse.protocol.messages.produce import PartitionProduceResponse as PartitionResponse
from streamhouse.protocol.messages.produce import ProduceRequest, TopicProduceData
from streamhouse.protocol.messages.produce import ProduceResponse as Response
from streamhouse.protocol.messages.produce import TopicProduceResponse as TopicResponse
from streamhouse.protocol.records import BatchHeader, Compression, InvalidRecordError, iter_batches, set_log_append_time
from streamhouse.protocol.validation import (
    TimestampBounds,
    needs_record_errors,
    record_errors,
    timestamp_bounds,
    validate_batch,
)
from streamhouse.storage.log import StorageError

if not validation.COMPILED:
    logging.getLogger(__name__).warning(
        "streamhouse.protocol._recordscan is not built (no C compiler at install?): produced records are validated in Python, "  # noqa: E501
        "far slower"
    )

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.metrics import BrokerStats
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


class _Outcome:
    """What happened to one partition of the request: an error now, or appends to wait for."""

    def __init__(self, index: int, error: ErrorCode = ErrorCode.NONE, message: str | None = None) -> None:
        self.index = index
        self.error = error
        self.message = message
        self.record_errors: list[tuple[int, str]] = []  # (index of the record in the partition's batches, why)
        self.appends: list[asyncio.Future[AppendResult]] = []
        self.log_append_time = -1
        self.records = 0  # in the appended batches, for the metrics
        self.bytes = 0


async def handle_produce(broker: Broker, request: Request[ProduceRequest], connection: Connection) -> Response | None:
    body = request.body
    stats = broker.metrics.stats if broker.metrics is not None else None
    outcomes: list[tuple[str, list[_Outcome]]] = []
    # Appends of one connection must reach the log in request order (clients pipeline).
    async with connection.produce_lock:
        checked: list[_Checked] = []
        now = time.time_ns() // 1_000_000
        for topic_data in body.topic_data:
            partitions = await _check_topic(broker, connection, body, request.version, topic_data, now, checked)
            outcomes.append((topic_data.name, partitions))
        await _validated(checked, broker.config.max_uncompressed_batch_bytes)
        await _in_transaction(broker, body.transactional_id, request.version, checked)
        for partition in checked:
            if not partition.outcome.error:
                _append(broker, partition)
    if body.acks == 0:
        if stats is not None:
            for name, partitions in outcomes:
                for outcome in partitions:
                    stats.produced(name, outcome.error, outcome.records, outcome.bytes)
        return None
    waits = [append for _, partitions in outcomes for outcome in partitions for append in outcome.appends]
    if waits:
        await _answered(waits, max(body.timeout_ms, 1) / 1000)
    return Response(
        responses=[
            TopicResponse(
                name=name, partition_responses=[_partition_response(outcome, name, stats) for outcome in partitions]
            )
            for name, partitions in outcomes
        ]
    )


def _refused(broker: Broker, connection: Connection, transactional_id: str | None, topic: str) -> ErrorCode:
    """WRITE on the transactional id, if any, then on the topic (Kafka's order)."""
    authorizer = broker.authorizer
    if transactional_id is not None:
        error = authorizer.transactional_id_error(connection, Operation.WRITE, transactional_id)
        if error:
            return error
    return authorizer.topic_error(connection, Operation.WRITE, topic)


async def _answered(appends: list[asyncio.Future[AppendResult]], timeout: float) -> None:
    """Wait until every append is answered, or the timeout.

    The log answers flushes in flush order, all batches of a flush at once, so the last append is answered
    last: waiting on it alone spares a callback per batch. Appends still open then (refused at once
    because the broker began closing while the request waited for a topic) are waited for too.
    """
    deadline = time.monotonic() + timeout
    await asyncio.wait(appends[-1:], timeout=timeout)
    still_open = [append for append in appends if not append.done()]
    if still_open:
        await asyncio.wait(still_open, timeout=max(deadline - time.monotonic(), 0))


ZSTD_SINCE_VERSION = 7  # as Kafka: older Produce requests may not carry zstd batches (KIP-110)


class _Checked(NamedTuple):
    """A partition whose batches passed the header checks: its records are validated next, then appended."""

    outcome: _Outcome
    topic: TopicInfo
    batches: list[tuple[BatchHeader, memoryview]]
    compacted: bool
    append_time: bool
    bounds: TimestampBounds | None  # None: a LogAppendTime topic


async def _check_topic(
    broker: Broker,
    connection: Connection,
    body: ProduceRequest,
    version: int,
    topic_data: TopicProduceData,
    now: int,
    checked: list[_Checked],
) -> list[_Outcome]:
    """Each partition's outcome; those whose batches pass the header checks also go to `checked`."""
    if body.acks not in (0, 1, -1):
        return [_Outcome(p.index, ErrorCode.INVALID_REQUIRED_ACKS) for p in topic_data.partition_data]
    if is_internal(topic_data.name):
        return [_Outcome(p.index, ErrorCode.INVALID_TOPIC_EXCEPTION) for p in topic_data.partition_data]
    may_create = None
    if broker.authorizer.enabled:  # tested here: --authorizer none costs the hot path one attribute read
        refused = _refused(broker, connection, body.transactional_id, topic_data.name)
        if refused:
            return [_Outcome(p.index, refused) for p in topic_data.partition_data]
        may_create = partial(broker.authorizer.may_create_topic, connection)
    auto_create = broker.config.num_partitions if broker.config.auto_create_topics else None
    try:
        topic, error = await broker.topics.resolve(topic_data.name, auto_create, may_create)
    except MetadataUnavailableError as exc:
        return [_Outcome(p.index, ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) for p in topic_data.partition_data]
    if topic is None:
        return [_Outcome(p.index, error) for p in topic_data.partition_data]
    defaults = broker.broker_defaults
    max_bytes = int(effective_config(topic, "max.message.bytes", defaults))
    append_time = effective_config(topic, "message.timestamp.type", defaults) == "LogAppendTime"
    compacted = "compact" in cleanup_policies(topic, defaults)
    bounds = None
    if not append_time:
        bounds = timestamp_bounds(now, *timestamp_limits_ms(topic, defaults))
    outcomes = []
    for partition_data in topic_data.partition_data:
        outcome = _Outcome(partition_data.index)
        outcomes.append(outcome)
        if not 0 <= partition_data.index < topic.partitions:
            outcome.error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            continue
        records = partition_data.records
        if not records:
            outcome.error, outcome.message = ErrorCode.INVALID_RECORD, "no record batch"
            continue
        try:
            batches = list(iter_batches(records))
        except InvalidRecordError as exc:
            outcome.error, outcome.message = ErrorCode.INVALID_RECORD, str(exc)
            continue
        except ProtocolError as exc:  # a CRC mismatch (CorruptBatchError) among them
            outcome.error, outcome.message = ErrorCode.CORRUPT_MESSAGE, str(exc)
            continue
        if version < ZSTD_SINCE_VERSION and any(header.compression is Compression.ZSTD for header, _ in batches):
            outcome.error = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
            outcome.message = f"zstd needs Produce v{ZSTD_SINCE_VERSION} or later"
            continue
        too_large = next((len(view) for _, view in batches if len(view) > max_bytes), None)
        if too_large is not None:
            outcome.error = ErrorCode.MESSAGE_TOO_LARGE
            outcome.message = f"batch of {too_large} bytes is above max.message.bytes={max_bytes}"
            continue
        checked.append(_Checked(outcome, topic, batches, compacted, append_time, bounds))
    return outcomes


ABORTABLE_SINCE_VERSION = 11  # clients that know TRANSACTION_ABORTABLE
IMPLICIT_ADD_SINCE_VERSION = 12  # transactions v2: producing adds the partition to the transaction
_UNVERIFIED = {
    ErrorCode.PRODUCER_FENCED: ErrorCode.INVALID_PRODUCER_EPOCH,
    ErrorCode.COORDINATOR_NOT_AVAILABLE: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.NOT_COORDINATOR: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.CONCURRENT_TRANSACTIONS: ErrorCode.NOT_ENOUGH_REPLICAS,
}


async def _in_transaction(broker: Broker, transactional_id: str | None, version: int, checked: list[_Checked]) -> None:
    """KIP-890: transactional batches' partitions join their producer's transaction (v12+) or must be in it.

    Only a transaction's first batch on a partition asks the coordinator (once per producer and request):
    a partition where the producer has a transaction open took one of its batches already, and this
    broker knows the partitions of the transactions it coordinates.
    """
    asking: dict[tuple[int, int], list[_Checked]] = {}
    for partition in checked:
        header = partition.batches[0][0]
        if partition.outcome.error or not header.is_transactional:
            continue
        key = [(partition.topic.name, partition.outcome.index)]
        if transactional_id is not None and broker.transactions.known_in_transaction(
            transactional_id, header.producer_id, header.producer_epoch, key
        ):
            continue
        try:
            state = await broker.transaction_states.get(partition.topic.topic_id, partition.outcome.index)
        except MetadataUnavailableError:
            partition.outcome.error = ErrorCode.KAFKA_STORAGE_ERROR
            continue
        if all(producer_id != header.producer_id for producer_id, _ in state.open):
            asking.setdefault((header.producer_id, header.producer_epoch), []).append(partition)
    for (producer_id, epoch), partitions in asking.items():
        error = ErrorCode.INVALID_TXN_STATE
        if transactional_id is not None:
            keys = [(partition.topic.name, partition.outcome.index) for partition in partitions]
            add = version >= IMPLICIT_ADD_SINCE_VERSION
            error = await broker.transactions.join_by_produce(transactional_id, producer_id, epoch, keys, add)
        for partition in partitions:
            _refuse_unverified(partition.outcome, error, version, producer_id)


def _refuse_unverified(outcome: _Outcome, error: ErrorCode, version: int, producer_id: int) -> None:
    if error in (ErrorCode.INVALID_TXN_STATE, ErrorCode.INVALID_PRODUCER_ID_MAPPING):
        abortable = version >= ABORTABLE_SINCE_VERSION
        outcome.error = ErrorCode.TRANSACTION_ABORTABLE if abortable else ErrorCode.INVALID_TXN_STATE
        outcome.message = f"the partition is not in the ongoing transaction of producer {producer_id}"
    elif error:
        outcome.error = _UNVERIFIED.get(error, error)


INLINE_VALIDATION_BYTES = 256 * 1024
"""Uncompressed batches up to this many bytes in all are validated on the event loop: walking them
takes less time than handing them to a worker thread and back."""

# Threads of their own, as many as the cores the decompressors and the record walk (both without
# the GIL) can use: requests validating decompression bombs wait for each other, not the object
# store's reads and writes on the default executor.
_VALIDATION_THREADS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="produce-validation")


async def _validated(checked: list[_Checked], max_uncompressed: int) -> None:
    """Every record of the checked partitions validated, off the event loop unless the request is small and
    uncompressed (one validation thread for the whole request); the partitions that fail get their error.

    Naming refused records (record_errors) decodes each record in Python: small requests that need it
    go to the thread too.
    """
    size = sum(len(view) for partition in checked for _, view in partition.batches)
    compressed = any(header.compression for partition in checked for header, _ in partition.batches)
    if not compressed and size <= INLINE_VALIDATION_BYTES:
        checked = [partition for partition in checked if not _validate_partition(partition, max_uncompressed)]
    if checked:
        await asyncio.get_running_loop().run_in_executor(_VALIDATION_THREADS, _validate_all, checked, max_uncompressed)


def _validate_all(checked: list[_Checked], max_uncompressed: int) -> None:
    for partition in checked:
        _validate_partition(partition, max_uncompressed, name_records=True)


def _validate_partition(partition: _Checked, max_uncompressed: int, *, name_records: bool = False) -> bool:
    """Kafka's log validator over one partition's batches: the error and record_errors of its outcome, if any.

    As Kafka, a record without a key on a compacted topic or a timestamp out of the topic's bounds is named
    in record_errors (its index among the partition's records); nothing of the partition is appended then.
    False, with the outcome untouched, when records are to be named but `name_records` is not set.
    """
    outcome = partition.outcome
    where = f"{partition.topic.name}-{outcome.index}"
    why = f"Compacted topic cannot accept message without key in topic partition {where}."
    first = 0
    by_timestamp = False
    try:
        for header, view in partition.batches:
            summary = validate_batch(header, view, max_uncompressed=max_uncompressed)
            if needs_record_errors(header, summary, compacted=partition.compacted, bounds=partition.bounds):
                if not name_records:
                    return False
                errors, timestamps = record_errors(
                    header,
                    view,
                    first_index=first,
                    compacted=partition.compacted,
                    bounds=partition.bounds,
                    max_uncompressed=max_uncompressed,
                    keyless_why=why,
                )
                outcome.record_errors += errors
                by_timestamp = by_timestamp or timestamps
            first += summary.records
    except InvalidRecordError as exc:
        outcome.error, outcome.message = ErrorCode.INVALID_RECORD, str(exc)
        return True
    except ProtocolError as exc:
        outcome.error, outcome.message = ErrorCode.CORRUPT_MESSAGE, str(exc)
        return True
    if by_timestamp:
        outcome.error = ErrorCode.INVALID_TIMESTAMP
        outcome.message = "One or more records have been rejected due to invalid timestamp"
    elif outcome.record_errors:
        outcome.error = ErrorCode.INVALID_RECORD
        outcome.message = f"{len(outcome.record_errors)} of {first} records have no key: {why}"
    return True


def _append(broker: Broker, partition: _Checked) -> None:
    """A validated partition's batches handed to the log (stamped first on a LogAppendTime topic)."""
    outcome = partition.outcome
    batch_sizes = broker.metrics.stats.batch_records if broker.metrics is not None else None
    if partition.append_time:
        outcome.log_append_time = time.time_ns() // 1_000_000
    for header, view in partition.batches:
        data: bytes | memoryview = view  # no copy: the log copies it once, into the flush's object
        if partition.append_time:
            data, header = set_log_append_time(data, outcome.log_append_time)
        outcome.records += header.last_offset_delta + 1
        outcome.bytes += len(data)
        if batch_sizes is not None:
            batch_sizes.observe(header.last_offset_delta + 1)
        outcome.appends.append(broker.log.append(partition.topic.topic_id, outcome.index, data, header))


def _partition_response(outcome: _Outcome, topic: str, stats: BrokerStats | None) -> PartitionResponse:
    """The answer for one partition, counted in the metrics (acknowledged records and bytes, or the error)."""
    response = _answer(outcome)
    if stats is not None:
        stats.produced(topic, response.error_code, outcome.records, outcome.bytes)
    return response


def _answer(outcome: _Outcome) -> PartitionResponse:
    response = PartitionResponse(index=outcome.index, error_code=outcome.error, error_message=outcome.message)
    if outcome.record_errors:
        response.record_errors = [
            RecordError(batch_index=index, batch_index_error_message=why) for index, why in outcome.record_errors
        ]
    if outcome.error or not outcome.appends:
        response.base_offset = -1
        return response
    if not all(append.done() for append in outcome.appends):
        response.error_code, response.base_offset = ErrorCode.REQUEST_TIMED_OUT, -1
        return response
    failures = [append.exception() for append in outcome.appends if append.exception() is not None]
    if failures:
        response.error_code = ErrorCode.KAFKA_STORAGE_ERROR
        response.error_message = str(failures[0]) if isinstance(failures[0], StorageError) else "append failed"
        response.base_offset = -1
        return response
    results = [append.result() for append in outcome.appends]
    refused = next((result for result in results if result.error_code), None)
    if refused is not None:
        response.error_code, response.base_offset = refused.error_code, -1
        return response
    response.base_offset = results[0].base_offset
    response.log_start_offset = results[-1].log_start_offset
    response.log_append_time_ms = outcome.log_append_time
    return response


HANDLES = {PRODUCE.key: handle_produce}
