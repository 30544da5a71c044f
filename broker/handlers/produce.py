"""Produce v3-9: validate record batches and append them, still compressed, to the partition log.

acks 0 gets no response; acks 1 and -1 are answered once the batches are committed
(object written and offsets assigned in the metadata store): with one copy of the data
in durable storage, "leader" and "all replicas" are the same thing.

Errors per partition: INVALID_REQUIRED_ACKS (21) for acks other than 0, 1, -1;
UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic (when not auto-created) or partition;
INVALID_TOPIC_EXCEPTION (17) for a bad name, one colliding on '.' and '_' with an existing topic's
(auto-creation), and Kafka's internal topics (only the broker writes those); CORRUPT_MESSAGE (2) for a CRC mismatch or
malformed batch; INVALID_RECORD (87) for an empty record set or a control batch (only the
transaction coordinator writes those: transaction markers); MESSAGE_TOO_LARGE (10) for
a batch above the topic's max.message.bytes; OUT_OF_ORDER_SEQUENCE_NUMBER (45) and
INVALID_PRODUCER_EPOCH (47) from the idempotence checks; INVALID_RECORD (87) for a record without a
key sent to a topic whose cleanup.policy includes compact (v8+ also name each such record in
`record_errors`, KIP-467; nothing of that partition is appended); KAFKA_STORAGE_ERROR (56,
retriable) when the flush failed or the metadata store is unreachable (PostgreSQL down or
restarting): nothing of the batch was committed, or the commit's answer was lost, and
librdkafka (refresh + retry, message not persisted) and kafka-python (KafkaStorageError is
retriable) both resend it with the same producer id and sequence, so a batch that did
commit is answered as the duplicate it is, with its first offset; REQUEST_TIMED_OUT (7)
when it took longer than timeout_ms.
Transactional batches open their producer's transaction on the partition (at their offset,
the partition's last stable offset until the marker); as Kafka before 3.6 (KIP-890), a
partition is not checked to be in the transaction.
A topic with message.timestamp.type=LogAppendTime gets the time the broker received each
batch (as Kafka stamps it on append), in the batch header. Batches stay opaque (header and CRC
checked, records not read) except for compacted topics, whose records are decompressed and read
for their keys: in a worker process (broker/workers.py) for batches of more than
KEY_SCAN_INLINE_RECORDS records (the scan is a pure function of the batches' bytes,
`keyless_records`), so that a large one does not hold the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from broker.topics import cleanup_policies, effective_config, is_internal
from metadata.base import AppendResult, MetadataUnavailableError
from protocol.apis.produce import PRODUCE
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages.produce import BatchIndexAndErrorMessage as RecordError
from protocol.messages.produce import PartitionProduceResponse as PartitionResponse
from protocol.messages.produce import ProduceRequest, TopicProduceData
from protocol.messages.produce import ProduceResponse as Response
from protocol.messages.produce import TopicProduceResponse as TopicResponse
from protocol.primitives import Buffer
from protocol.records import BatchHeader, CorruptBatchError, iter_batches, iter_records, set_log_append_time
from storage.log import StorageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from broker.app import Broker
    from broker.metrics import BrokerStats
    from broker.server import Connection
    from protocol.wire import Request


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
        for topic_data in body.topic_data:
            outcomes.append((topic_data.name, await _append_topic(broker, body.acks, topic_data)))
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


async def _append_topic(broker: Broker, acks: int, topic_data: TopicProduceData) -> list[_Outcome]:
    if acks not in (0, 1, -1):
        return [_Outcome(p.index, ErrorCode.INVALID_REQUIRED_ACKS) for p in topic_data.partition_data]
    if is_internal(topic_data.name):
        return [_Outcome(p.index, ErrorCode.INVALID_TOPIC_EXCEPTION) for p in topic_data.partition_data]
    auto_create = broker.config.num_partitions if broker.config.auto_create_topics else None
    try:
        topic, error = await broker.topics.resolve(topic_data.name, auto_create)
    except MetadataUnavailableError as exc:
        return [_Outcome(p.index, ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) for p in topic_data.partition_data]
    if topic is None:
        return [_Outcome(p.index, error) for p in topic_data.partition_data]
    max_bytes = int(effective_config(topic, "max.message.bytes", broker.broker_defaults))
    append_time = effective_config(topic, "message.timestamp.type", broker.broker_defaults) == "LogAppendTime"
    compacted = "compact" in cleanup_policies(topic, broker.broker_defaults)
    outcomes = []
    batch_sizes = broker.metrics.stats.batch_records if broker.metrics is not None else None
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
        except CorruptBatchError as exc:
            outcome.error, outcome.message = ErrorCode.CORRUPT_MESSAGE, str(exc)
            continue
        except ProtocolError as exc:
            outcome.error, outcome.message = ErrorCode.CORRUPT_MESSAGE, str(exc)
            continue
        if any(header.is_control for header, _ in batches):
            outcome.error, outcome.message = ErrorCode.INVALID_RECORD, "control batches are the coordinator's to write"
            continue
        if compacted and not await _keys_present(broker, outcome, topic_data.name, batches):
            continue
        too_large = next((len(view) for _, view in batches if len(view) > max_bytes), None)
        if too_large is not None:
            outcome.error = ErrorCode.MESSAGE_TOO_LARGE
            outcome.message = f"batch of {too_large} bytes is above max.message.bytes={max_bytes}"
            continue
        if append_time:
            outcome.log_append_time = time.time_ns() // 1_000_000
        for header, view in batches:
            data: bytes | memoryview = view  # no copy: the log copies it once, into the flush's object
            if append_time:
                data, header = set_log_append_time(data, outcome.log_append_time)
            outcome.records += header.last_offset_delta + 1
            outcome.bytes += len(data)
            if batch_sizes is not None:
                batch_sizes.observe(header.last_offset_delta + 1)
            outcome.appends.append(broker.log.append(topic.topic_id, partition_data.index, data, header))
    return outcomes


# Up to this many records a compacted topic's key scan runs on the event loop (a worker's round trip costs more).
KEY_SCAN_INLINE_RECORDS = 1000


def keyless_records(batches: Sequence[Buffer]) -> tuple[list[int], int]:
    """(the indexes of the records without a key, the number of records) over `batches`, each one record
    batch's bytes (header and CRC already checked). Pure: runs in a worker process. ProtocolError when a
    record cannot be read."""
    missing = []
    index = 0
    for data in batches:
        for header, view in iter_batches(data, verify_crc=False):
            for record in iter_records(header, view):
                if record.key is None:
                    missing.append(index)
                index += 1
    return missing, index


async def _keys_present(
    broker: Broker, outcome: _Outcome, topic: str, batches: list[tuple[BatchHeader, memoryview]]
) -> bool:
    """A compacted topic's records need keys, as Kafka checks (nothing compacts by key yet: clients see Kafka's answer).

    Records without one are listed in the outcome's record_errors, with INVALID_RECORD for the partition;
    a batch whose records cannot be read is CORRUPT_MESSAGE.
    """
    why = f"Compacted topic cannot accept message without key in topic partition {topic}-{outcome.index}."
    try:
        if sum(header.records_count for header, _ in batches) <= KEY_SCAN_INLINE_RECORDS:
            missing, count = keyless_records([view for _, view in batches])
        else:
            missing, count = await broker.cpu_workers.run(keyless_records, [bytes(view) for _, view in batches])
    except ProtocolError as exc:
        outcome.error, outcome.message = ErrorCode.CORRUPT_MESSAGE, str(exc)
        return False
    if missing:
        outcome.record_errors = [(index, why) for index in missing]
        outcome.error = ErrorCode.INVALID_RECORD
        outcome.message = f"{len(missing)} of {count} records have no key: {why}"
        return False
    return True


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
