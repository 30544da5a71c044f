"""The log cleaner: a compacted topic keeps the last record of each key, as Kafka's LogCleaner does.

A partition's segments are derived from its batch index as Kafka rolls them: a segment starts
at the first entry, and a new one at the first entry whose max timestamp is more than
`segment.ms` past the segment's first, or that would take the segment past `segment.bytes`
(so a segment rolls when a record arrives, never on its own). The last segment is the active
(head) one and is never cleaned; nor is anything at or past the last stable offset (an open
transaction) or newer than `min.compaction.lag.ms`, nor a flush object maintenance has not rewritten
into a segment yet (it would rewrite those index entries at the same time). What lies before is the
cleanable range.

A pass over a partition, under its lease in the metadata store (one cleaner per partition across
brokers): the dirty ratio is the share of the cleanable bytes at or past the checkpoint (the
first offset never cleaned). When it exceeds `min.cleanable.dirty.ratio`, or the oldest dirty
record is older than `max.compaction.lag.ms`, or a kept tombstone's time has come, the range is
rewritten: a record is kept when no later record of the range has its key; records of aborted
transactions (whose abort marker is in the range) are removed; a tombstone (null value) is kept
`delete.retention.ms` after its offsets were first cleaned, then removed; transaction markers,
records without a key, and records of transactions not ended within the range are kept as they
are. A batch keeps its base offset and last offset delta (Kafka's cleaner does too), so offsets
never change: the cleaned log has gaps, which consumers read across. The kept batches go to a new
object, whose index entries are swapped for the old ones in one metadata transaction; the old
objects are collected by maintenance once nothing references them.

Decoding and rebuilding batches runs in a worker process of its own (a thread would hold the GIL
the event loop needs for that long); reads and writes are throttled to `io_max_bytes_per_second`
over all partitions.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import struct
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from streamhouse.metadata.base import CleanerCheckpoint, IndexEntry, MetadataStore
from streamhouse.protocol.records import BatchHeader, Record, StoredRecord, build_batch, iter_batches, iter_records
from streamhouse.storage.caches import PartitionKey
from streamhouse.storage.log import PartitionLog
from streamhouse.storage.maintenance import FLUSH_PREFIX, segment_key
from streamhouse.storage.objects.base import Buffer, ObjectStore
from streamhouse.storage.transactions import TransactionStates

log = logging.getLogger(__name__)

ENTRIES_PER_PASS = 10_000  # index entries one pass may rewrite per partition
BYTES_PER_PASS = 256 * 1024 * 1024  # and their stored bytes
CLEANED_INDEX_BYTES = 1024 * 1024  # one index row per ~1 MiB of a cleaned object
_MARKER_KEY = struct.Struct(">hh")  # a control record's key: version, type (0 abort, 1 commit)
_ABORT = 0


@dataclass(frozen=True)
class CleanerSettings:
    """A topic's configs that drive its cleaning (Kafka's names)."""

    segment_ms: int
    segment_bytes: int
    min_compaction_lag_ms: int
    max_compaction_lag_ms: int
    min_cleanable_dirty_ratio: float
    delete_retention_ms: int


@dataclass
class CleanerStats:
    """What the cleaner did, for /metrics: per partition, of the compacted topics it looks at."""

    bytes_read: int = 0
    bytes_written: int = 0
    records_removed: int = 0
    dirty_ratio: dict[PartitionKey, float] = field(default_factory=dict)
    last_clean_ms: dict[PartitionKey, int] = field(default_factory=dict)
    topic_names: dict[UUID, str] = field(default_factory=dict)  # the label of each topic id

    def keep_topics(self, names: dict[UUID, str]) -> None:
        """Forget the partitions of topics no longer compacted (or deleted)."""
        self.topic_names = names
        for table in (self.dirty_ratio, self.last_clean_ms):
            for key in [key for key in table if key[0] not in names]:
                del table[key]


class IoThrottle:
    """Spreads bytes read and written to at most `bytes_per_second` (0: unthrottled)."""

    def __init__(self, bytes_per_second: int) -> None:
        self.bytes_per_second = bytes_per_second
        self._free_at = time.monotonic()  # when the bytes spent so far have been paid for

    async def spend(self, size: int) -> None:
        if self.bytes_per_second <= 0:
            return
        now = time.monotonic()
        start = max(self._free_at, now)  # what was spent before is paid for first
        self._free_at = start + size / self.bytes_per_second
        if start > now:
            await asyncio.sleep(start - now)


def head_segment_start(entries: Sequence[IndexEntry], segment_ms: int, segment_bytes: int) -> int:
    """The position in `entries` (a partition's, in offset order) where the active segment starts."""
    start = 0
    first_timestamp = entries[0].max_timestamp if entries else 0
    size = 0
    for position, entry in enumerate(entries):
        if position > start and (
            entry.max_timestamp - first_timestamp > segment_ms or size + entry.length > segment_bytes
        ):
            start, first_timestamp, size = position, entry.max_timestamp, 0
        size += entry.length
    return start


def cleanable_range(
    entries: Sequence[IndexEntry],
    settings: CleanerSettings,
    last_stable_offset: int,
    now_ms: int,
    complete: bool,
    max_bytes: int = BYTES_PER_PASS,
) -> list[IndexEntry]:
    """The entries a pass may clean: before the head segment, the last stable offset and the lag bound,
    at most `max_bytes` of them (the first always).

    `complete`: `entries` reach the partition's end (else the head lies beyond them).
    """
    end = head_segment_start(entries, settings.segment_ms, settings.segment_bytes) if complete else len(entries)
    size = 0
    for position, entry in enumerate(entries[:end]):
        size += entry.length
        if (
            entry.last_offset >= last_stable_offset
            or entry.object_key.startswith(FLUSH_PREFIX)
            or entry.max_timestamp > now_ms - settings.min_compaction_lag_ms
            or (size > max_bytes and position > 0)
        ):
            return list(entries[:position])
    return list(entries[:end])


def first_cleaned_ms(clean_times: Sequence[tuple[int, int]], offset: int, now_ms: int) -> int:
    """When the offset was first cleaned: the time of the first range that holds it, else now."""
    for end, cleaned_ms in clean_times:
        if offset < end:
            return cleaned_ms
    return now_ms


def pruned_clean_times(
    clean_times: Sequence[tuple[int, int]], delete_retention_ms: int, now_ms: int
) -> tuple[tuple[int, int], ...]:
    """Ranges whose tombstones are all past their time merge into the next range (also past its time)."""
    times = list(clean_times)
    while len(times) >= 2 and times[1][1] + delete_retention_ms <= now_ms:
        times.pop(0)
    return tuple(times)


@dataclass
class CleanedRange:
    """A cleaned range: the kept batches as pieces of one object, their index entries, and what it found."""

    pieces: list[bytes]
    entries: list[IndexEntry]
    tombstones_due_ms: int  # when the earliest kept tombstone may go; 0 when none was kept
    records_removed: int

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)


@dataclass
class _Batch:
    header: BatchHeader  # its base offset the real one, from the index
    data: memoryview
    records: list[StoredRecord] | None = None  # decoded: data batches of ended transactions, or none
    aborted: bool = False


def clean_range(
    entries: Sequence[IndexEntry],
    stored: Sequence[Buffer],
    object_key: str,
    clean_times: Sequence[tuple[int, int]],
    delete_retention_ms: int,
    now_ms: int,
    keep_tombstones: bool = False,
) -> CleanedRange:
    """Clean the batches of `entries` (their bytes `stored`, as stored), CPU only: run it off the event loop.

    `keep_tombstones`: the range does not start at the log start, so a tombstone may still hide an
    older record of its key before the range; it stays. What it returns is plain bytes, to go back
    from a worker process."""
    batches = _batches(entries, stored)
    latest: dict[bytes, int] = {}  # each key's last offset in the range
    for batch in batches:
        if batch.records is not None:
            for record in batch.records:
                if record.key is not None:
                    latest[record.key] = record.offset
    pieces: list[bytes] = []
    kept: list[BatchHeader] = []  # the batches kept, as the pieces hold them
    tombstones_due = 0
    removed = 0
    for batch in batches:
        if batch.aborted:
            removed += batch.header.records_count
            continue
        if batch.records is None:  # a marker, or a transaction not ended in the range: as it is
            pieces.append(bytes(batch.data))
            kept.append(batch.header)
            continue
        records: list[StoredRecord] = []
        for record in batch.records:
            if record.key is not None and latest[record.key] != record.offset:
                continue
            if record.value is None and record.key is not None and not keep_tombstones:
                due = first_cleaned_ms(clean_times, record.offset, now_ms) + delete_retention_ms
                if due <= now_ms:
                    continue
                tombstones_due = due if not tombstones_due else min(tombstones_due, due)
            records.append(record)
        removed += len(batch.records) - len(records)
        if not records:
            continue
        pieces.append(bytes(batch.data) if len(records) == len(batch.records) else _rebuilt(batch.header, records))
        kept.append(batch.header)
    return CleanedRange(pieces, _cleaned_entries(kept, pieces, object_key), tombstones_due, removed)


def _batches(entries: Sequence[IndexEntry], stored: Sequence[Buffer]) -> list[_Batch]:
    """The range's batches with their real offsets; data batches decoded unless their transaction is open."""
    batches: list[_Batch] = []
    pending: dict[int, list[_Batch]] = {}  # transactional data batches by producer id, awaiting their marker
    for entry, data in zip(entries, stored, strict=True):
        offset = entry.base_offset
        for header, view in iter_batches(data, verify_crc=False):
            batch = _Batch(header._replace(base_offset=offset), view)
            offset += header.last_offset_delta + 1
            batches.append(batch)
            if header.is_control:
                ended = pending.pop(header.producer_id, [])
                if _is_abort(batch):
                    for aborted in ended:
                        aborted.aborted = True
                else:
                    for committed in ended:
                        committed.records = list(iter_records(committed.header, committed.data))
            elif header.is_transactional:
                pending.setdefault(header.producer_id, []).append(batch)
            else:
                batch.records = list(iter_records(batch.header, view))
    return batches


def _is_abort(marker: _Batch) -> bool:
    for record in iter_records(marker.header, marker.data):
        if record.key is not None and len(record.key) >= _MARKER_KEY.size:
            marker_type: int = _MARKER_KEY.unpack_from(record.key)[1]
            return marker_type == _ABORT
    return False


def _rebuilt(header: BatchHeader, records: Sequence[StoredRecord]) -> bytes:
    """The batch with only `records`, keeping its base offset, last offset delta, producer and codec."""
    return build_batch(
        [Record(r.key, r.value, r.headers, r.timestamp, r.offset_delta) for r in records],
        base_offset=header.base_offset,
        compression=header.compression,
        timestamp_type=header.timestamp_type,
        base_timestamp=header.base_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        is_transactional=header.is_transactional,
        last_offset_delta=header.last_offset_delta,
    )


def _cleaned_entries(kept: Sequence[BatchHeader], pieces: Sequence[Buffer], object_key: str) -> list[IndexEntry]:
    """Index entries over runs of kept batches whose offsets follow on (readers patch offsets run by run)."""
    entries: list[IndexEntry] = []
    position = 0
    for header, piece in zip(kept, pieces, strict=True):
        last = entries[-1] if entries else None
        if (
            last is not None
            and last.last_offset + 1 == header.base_offset
            and last.length + len(piece) <= CLEANED_INDEX_BYTES
        ):
            entries[-1] = IndexEntry(
                last.base_offset,
                header.last_offset,
                object_key,
                last.position,
                last.length + len(piece),
                max(last.max_timestamp, header.max_timestamp),
            )
        else:
            offsets = (header.base_offset, header.last_offset)
            entries.append(IndexEntry(*offsets, object_key, position, len(piece), header.max_timestamp))
        position += len(piece)
    return entries


class LogCleaner:
    """Cleans compacted partitions, one pass at a time (the broker calls `clean` per partition)."""

    def __init__(
        self,
        objects: ObjectStore,
        metadata: MetadataStore,
        partition_log: PartitionLog,
        transaction_states: TransactionStates,
        holder: int,
        lease_ms: int,
        io_max_bytes_per_second: int = 0,
    ) -> None:
        self.objects = objects
        self.metadata = metadata
        self.log = partition_log
        self.transaction_states = transaction_states
        self.holder = holder
        self.lease_ms = lease_ms
        self.throttle = IoThrottle(io_max_bytes_per_second)
        self.stats = CleanerStats()
        self.bytes_per_pass = BYTES_PER_PASS
        self._worker: ProcessPoolExecutor | None = None  # started at the first pass that rewrites

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def _process(self) -> ProcessPoolExecutor:
        if self._worker is None:
            # spawn, not fork: the broker has threads (SQLite's, the validators') a fork would copy mid-state.
            self._worker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._worker

    async def clean(self, topic_id: UUID, partition: int, settings: CleanerSettings, now_ms: int) -> int:
        """One pass over the partition; returns the records it removed (0 when it had nothing to do)."""
        state = await self.log.state(topic_id, partition)
        entries = await self.metadata.log.find_index(topic_id, partition, state.log_start_offset, ENTRIES_PER_PASS)
        transactions = await self.transaction_states.get(topic_id, partition)
        stable = transactions.last_stable_offset(state.high_watermark)
        complete = len(entries) < ENTRIES_PER_PASS
        cleanable = cleanable_range(entries, settings, stable, now_ms, complete, self.bytes_per_pass)
        if not cleanable:
            return 0
        checkpoint = await self.metadata.cleaner.acquire_cleaner_lease(
            topic_id, partition, self.holder, now_ms, self.lease_ms
        )
        if checkpoint is None:
            return 0  # another broker cleans it
        removed = 0
        try:
            cleanable, window = await self._dirty_window(
                topic_id, partition, entries, cleanable, checkpoint, settings, now_ms, stable
            )
            if cleanable:
                removed, checkpoint = await self._clean_if_due(
                    topic_id, partition, cleanable, checkpoint, settings, now_ms, window
                )
        finally:
            # Released after every pass: the partition's next preferred broker need not wait for it to expire.
            await self.metadata.cleaner.save_cleaner_checkpoint(topic_id, partition, self.holder, checkpoint)
        return removed

    async def _dirty_window(
        self,
        topic_id: UUID,
        partition: int,
        entries: Sequence[IndexEntry],
        cleanable: list[IndexEntry],
        checkpoint: CleanerCheckpoint,
        settings: CleanerSettings,
        now_ms: int,
        stable: int,
    ) -> tuple[list[IndexEntry], bool]:
        """The range to clean, and whether it is a window: from the log start when that reaches the dirty
        records; else (more live data than a pass takes) the newest cleanable entries that fit a pass,
        which hold the dirty ones."""
        complete = len(entries) < ENTRIES_PER_PASS
        if cleanable[-1].last_offset >= checkpoint.first_dirty_offset:
            return cleanable, False
        if not complete:
            entries = await self.metadata.log.find_index(
                topic_id, partition, checkpoint.first_dirty_offset, ENTRIES_PER_PASS
            )
            complete = len(entries) < ENTRIES_PER_PASS
        eligible = cleanable_range(entries, settings, stable, now_ms, complete, sys.maxsize)
        if eligible == cleanable:
            return cleanable, False
        size = 0
        start = len(eligible)
        while start > 0 and (start == len(eligible) or size + eligible[start - 1].length <= self.bytes_per_pass):
            start -= 1
            size += eligible[start].length
        return eligible[start:], True

    async def _clean_if_due(
        self,
        topic_id: UUID,
        partition: int,
        cleanable: list[IndexEntry],
        checkpoint: CleanerCheckpoint,
        settings: CleanerSettings,
        now_ms: int,
        window: bool,
    ) -> tuple[int, CleanerCheckpoint]:
        """Rewrite the range when the dirty ratio, max.compaction.lag.ms or a tombstone's time says so."""
        key = (topic_id, partition)
        dirty = [entry for entry in cleanable if entry.last_offset >= checkpoint.first_dirty_offset]
        total = sum(entry.length for entry in cleanable)
        ratio = sum(entry.length for entry in dirty) / total if total else 0.0
        self.stats.dirty_ratio[key] = ratio
        overdue = bool(dirty) and min(entry.max_timestamp for entry in dirty) < now_ms - settings.max_compaction_lag_ms
        tombstones_due = 0 < checkpoint.tombstones_due_ms <= now_ms
        if not (ratio > settings.min_cleanable_dirty_ratio or overdue or tombstones_due):
            return 0, checkpoint
        return await self._rewrite(topic_id, partition, cleanable, checkpoint, settings, now_ms, window)

    async def _rewrite(
        self,
        topic_id: UUID,
        partition: int,
        cleanable: Sequence[IndexEntry],
        checkpoint: CleanerCheckpoint,
        settings: CleanerSettings,
        now_ms: int,
        window: bool,
    ) -> tuple[int, CleanerCheckpoint]:
        """Clean the range (`window`: one that starts past the log start); returns the records removed
        and the checkpoint to save."""
        started = time.monotonic()
        stored = []
        for entry in cleanable:
            await self.throttle.spend(entry.length)
            stored.append(await self.log.read_stored(entry))
        self.stats.bytes_read += sum(entry.length for entry in cleanable)
        end = cleanable[-1].last_offset + 1
        clean_times = checkpoint.clean_times
        if end > checkpoint.first_dirty_offset:
            clean_times = (*clean_times, (end, now_ms))
        clean_times = pruned_clean_times(clean_times, settings.delete_retention_ms, now_ms)
        object_key = segment_key(topic_id, partition, cleanable[0].base_offset)
        cleaned = await asyncio.get_running_loop().run_in_executor(
            self._process(),
            clean_range,
            list(cleanable),
            stored,
            object_key,
            clean_times,
            settings.delete_retention_ms,
            now_ms,
            window,
        )
        await self.throttle.spend(cleaned.size)
        pieces: list[Buffer] = list(cleaned.pieces)
        await self.objects.put(object_key, pieces)
        self.stats.bytes_written += cleaned.size
        swapped = await self.metadata.log.replace_index(
            topic_id, partition, cleanable, cleaned.entries, object_key, cleaned.size, cleaned=True
        )
        if not swapped:
            # Compaction into segments, retention or another cleaner changed these entries first.
            await self.objects.delete([object_key])
            log.info("cleaning of %s/%d lost a race; its object was discarded", topic_id, partition)
            return 0, checkpoint
        self.stats.last_clean_ms[(topic_id, partition)] = now_ms
        self.stats.dirty_ratio[(topic_id, partition)] = 0.0
        self.stats.records_removed += cleaned.records_removed
        log.info(
            "cleaned %s/%d offsets %d-%d in %.3f s: %d records removed, %d of %d bytes kept",
            topic_id,
            partition,
            cleanable[0].base_offset,
            end - 1,
            time.monotonic() - started,
            cleaned.records_removed,
            cleaned.size,
            sum(entry.length for entry in cleanable),
        )
        due = checkpoint.tombstones_due_ms if window else cleaned.tombstones_due_ms
        return cleaned.records_removed, CleanerCheckpoint(end, now_ms, clean_times, due)
