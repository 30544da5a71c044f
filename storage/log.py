"""The partition log over object storage: write buffer, commits, reads and caches.

Write: batches from every partition gather in one buffer; a flush writes them as ONE
object, then commits them to the metadata store in ONE transaction that assigns offsets;
only then are the appends' futures resolved. Read: recent batches come from a tail cache
already patched with their offsets; older ones from the batch index and object ranges
(an LRU cache in front of the object store), patched on the way out.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from metadata.base import AppendResult, ChunkAppend, IndexEntry, MetadataStore, PartitionState
from protocol.records import BatchHeader, iter_batches, patch_base_offset, patch_partition_leader_epoch
from storage.objects.base import ObjectNotFoundError, ObjectStore

log = logging.getLogger(__name__)

PartitionKey = tuple[UUID, int]
MAX_STALE_LOOKUPS = 3
LEADER_EPOCH = 0  # one epoch forever: any broker may append, the metadata store orders writes


class StorageError(Exception):
    """A flush failed (object store or metadata store); nothing in it was acknowledged."""


@dataclass
class _Pending:
    key: PartitionKey
    data: bytes
    header: BatchHeader
    future: asyncio.Future[AppendResult]


@dataclass
class _TailEntry:
    base_offset: int
    last_offset: int
    data: bytes  # patched with its real offsets


@dataclass
class _Tail:
    entries: deque[_TailEntry] = field(default_factory=deque)
    bases: deque[int] = field(default_factory=deque)  # entries' base offsets, for bisect


def patch_offsets(data: bytes, base_offset: int) -> bytes:
    """A copy of stored batches with base offsets assigned from `base_offset` on and our leader epoch."""
    patched = bytearray(data)
    offset = base_offset
    for position, header in _batch_positions(patched):
        patch_base_offset(patched, position, offset)
        patch_partition_leader_epoch(patched, position, LEADER_EPOCH)
        offset += header.last_offset_delta + 1
    return bytes(patched)


def _batch_positions(buffer: bytearray) -> Iterable[tuple[int, BatchHeader]]:
    position = 0
    for header, view in iter_batches(buffer, verify_crc=False):
        yield position, header
        position += len(view)


class _ByteBoundedLru:
    """An LRU of byte strings bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()

    def get(self, key: tuple[str, int, int]) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, int, int], value: bytes) -> None:
        if len(value) > self.max_bytes or key in self._items:
            return
        self._items[key] = value
        self.size += len(value)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)


class PartitionLog:
    """All partitions' logs as one broker sees them."""

    def __init__(
        self,
        objects: ObjectStore,
        metadata: MetadataStore,
        *,
        broker_id: int,
        flush_ms: int,
        flush_bytes: int,
        tail_cache_bytes: int,
        object_cache_bytes: int,
        flushes_in_flight: int = 4,
    ) -> None:
        self.objects = objects
        self.metadata = metadata
        self.broker_id = broker_id
        self.flush_ms = flush_ms
        self.flush_bytes = flush_bytes
        self.tail_cache_bytes = tail_cache_bytes
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._first_pending_at = 0.0
        self._has_pending = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._flush_task: asyncio.Task[None] | None = None
        self._last_flush: asyncio.Task[None] | None = None
        self._flush_slots = asyncio.Semaphore(flushes_in_flight)
        self._flush_sequence = 0
        self._closing = False
        self._states: dict[PartitionKey, PartitionState] = {}
        self._tails: dict[PartitionKey, _Tail] = {}
        self._tail_order: deque[tuple[PartitionKey, int]] = deque()  # (partition, length) oldest first
        self._tail_bytes = 0
        self._ranges = _ByteBoundedLru(object_cache_bytes)
        self._waiters: dict[PartitionKey, set[asyncio.Future[None]]] = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._flush_task = asyncio.create_task(self._flush_loop(), name="flush-loop")

    def flush_immediately(self) -> None:
        """Stop waiting for flush.ms: flush what is pending now and every later append at once."""
        self.flush_ms = 0
        self._flush_now.set()

    async def close(self) -> None:
        """Flush what is pending, then stop."""
        self._closing = True
        self._flush_now.set()
        self._has_pending.set()
        if self._flush_task is not None:
            await self._flush_task
        if self._last_flush is not None:
            await self._last_flush

    # -- write path --------------------------------------------------------

    def append(self, topic_id: UUID, partition: int, data: bytes, header: BatchHeader) -> asyncio.Future[AppendResult]:
        """Queue one validated batch; the future resolves once it is committed (or fails)."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_exception(StorageError("broker is shutting down"))
            return future
        if not self._pending:
            self._first_pending_at = time.monotonic()
        self._pending.append(_Pending((topic_id, partition), data, header, future))
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.flush_bytes:
            self._flush_now.set()
        self._has_pending.set()
        return future

    async def _flush_loop(self) -> None:
        while True:
            await self._has_pending.wait()
            if not self._pending:
                if self._closing:
                    return
                self._has_pending.clear()
                continue
            delay = self._first_pending_at + self.flush_ms / 1000 - time.monotonic()
            if delay > 0 and not self._flush_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), delay)
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            self._flush_now.clear()
            if not self._closing:
                self._has_pending.clear()
            await self._flush_slots.acquire()
            self._last_flush = asyncio.create_task(self._write(pending, self._last_flush))

    async def _write(self, pending: list[_Pending], previous: asyncio.Task[None] | None) -> None:
        """Put one object (while earlier flushes may still be putting), then commit after the previous flush.

        Puts overlap so that throughput is not one object-store round trip per flush; commits
        stay in flush order, so a producer's pipelined batches keep their order.
        """
        try:
            await self._put_and_commit(pending, previous)
        finally:
            self._flush_slots.release()

    async def _put_and_commit(self, pending: list[_Pending], previous: asyncio.Task[None] | None) -> None:
        self._flush_sequence += 1
        key = f"flush/{self.broker_id}/{time.time_ns() // 1_000_000:013d}-{self._flush_sequence:08d}.obj"
        chunks = []
        position = 0
        for item in pending:
            header = item.header
            chunks.append(
                ChunkAppend(
                    topic_id=item.key[0],
                    partition=item.key[1],
                    position=position,
                    length=len(item.data),
                    record_count=header.last_offset_delta + 1,
                    max_timestamp=header.max_timestamp,
                    producer_id=header.producer_id,
                    producer_epoch=header.producer_epoch,
                    base_sequence=header.base_sequence,
                )
            )
            position += len(item.data)
        try:
            try:
                await self.objects.put(key, b"".join(item.data for item in pending))
            finally:
                if previous is not None:
                    await asyncio.wait([previous])  # its outcome is its own; only the order matters here
            results = await self.metadata.commit_flush(key, position, chunks)
        except Exception as exc:
            log.warning("flush of %d batches failed: %s", len(pending), exc)
            failure = StorageError(str(exc))
            for item in pending:
                if not item.future.done():
                    item.future.set_exception(failure)
            return
        for item, chunk, result in zip(pending, chunks, results, strict=True):
            if result.error_code == 0 and not result.duplicate:
                self._committed(item, chunk, result)
            if not item.future.done():
                item.future.set_result(result)

    def _committed(self, item: _Pending, chunk: ChunkAppend, result: AppendResult) -> None:
        last_offset = result.base_offset + chunk.record_count - 1
        state = self._states.get(item.key)
        if state is not None:
            self._states[item.key] = PartitionState(
                max(state.log_start_offset, result.log_start_offset), max(state.high_watermark, last_offset + 1)
            )
        self._add_tail(
            item.key, _TailEntry(result.base_offset, last_offset, patch_offsets(item.data, result.base_offset))
        )
        for waiter in self._waiters.pop(item.key, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _add_tail(self, key: PartitionKey, entry: _TailEntry) -> None:
        tail = self._tails.setdefault(key, _Tail())
        if tail.entries and tail.entries[-1].last_offset + 1 != entry.base_offset:
            # Another broker appended in between: the tail is no longer contiguous.
            self._drop_tail(key)
            tail = self._tails.setdefault(key, _Tail())
        tail.entries.append(entry)
        tail.bases.append(entry.base_offset)
        self._tail_order.append((key, len(entry.data)))
        self._tail_bytes += len(entry.data)
        while self._tail_bytes > self.tail_cache_bytes and self._tail_order:
            old_key, length = self._tail_order.popleft()
            self._tail_bytes -= length
            old_tail = self._tails.get(old_key)
            if old_tail is not None and old_tail.entries:
                old_tail.entries.popleft()
                old_tail.bases.popleft()

    def _drop_tail(self, key: PartitionKey) -> None:
        tail = self._tails.pop(key, None)
        if tail is not None:
            dropped = sum(len(entry.data) for entry in tail.entries)
            self._tail_bytes -= dropped
            self._tail_order = deque(item for item in self._tail_order if item[0] != key)

    # -- state -------------------------------------------------------------

    async def state(self, topic_id: UUID, partition: int) -> PartitionState:
        """Log start offset and high watermark of a partition."""
        key = (topic_id, partition)
        state = self._states.get(key)
        if state is None:
            states = await self.metadata.partition_states(topic_id)
            for index, loaded in enumerate(states):
                self._states.setdefault((topic_id, index), loaded)
            state = self._states.get(key, PartitionState(0, 0))
        return state

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        state = await self.metadata.set_log_start_offset(topic_id, partition, offset)
        self._states[(topic_id, partition)] = state
        return state

    def forget_topic(self, topic_id: UUID) -> None:
        """Drop cached state of a deleted topic."""
        for key in [key for key in self._states if key[0] == topic_id]:
            del self._states[key]
        for key in [key for key in self._tails if key[0] == topic_id]:
            self._drop_tail(key)

    # -- read path ---------------------------------------------------------

    async def read(
        self, topic_id: UUID, partition: int, offset: int, max_bytes: int, first_whole: bool = True
    ) -> list[bytes]:
        """Batches from the one holding `offset` on, patched, up to max_bytes.

        With first_whole, the first batch comes even when it alone exceeds max_bytes.
        """
        key = (topic_id, partition)
        tail = self._tails.get(key)
        if tail is not None and tail.bases and tail.bases[0] <= offset:
            return self._read_tail(tail, offset, max_bytes, first_whole)
        chunks: list[bytes] = []
        size = 0
        next_offset = offset
        stale_lookups = 0
        while size < max_bytes:
            entries = await self.metadata.find_index(topic_id, partition, next_offset, 16)
            if not entries:
                break
            for entry in entries:
                try:
                    data = await self.read_entry(entry)
                except ObjectNotFoundError:
                    # Compaction or retention swapped the entry and collected its object since
                    # the look-up: look the offsets up again.
                    stale_lookups += 1
                    if stale_lookups > MAX_STALE_LOOKUPS:
                        raise
                    break
                if (chunks or not first_whole) and size + len(data) > max_bytes:
                    return chunks
                chunks.append(data)
                size += len(data)
                next_offset = entry.last_offset + 1
                if size >= max_bytes:
                    return chunks
            if tail is not None and tail.bases and tail.bases[0] <= next_offset:
                return chunks + self._read_tail(tail, next_offset, max_bytes - size, first_whole and not chunks)
        return chunks

    def _read_tail(self, tail: _Tail, offset: int, max_bytes: int, first_whole: bool) -> list[bytes]:
        index = max(bisect.bisect_right(tail.bases, offset) - 1, 0)
        if index < len(tail.entries) and tail.entries[index].last_offset < offset:
            index += 1  # `offset` is past that batch (at the high watermark): it was already read
        chunks: list[bytes] = []
        size = 0
        for position in range(index, len(tail.entries)):
            data = tail.entries[position].data
            if (chunks or not first_whole) and size + len(data) > max_bytes:
                break
            chunks.append(data)
            size += len(data)
            if size >= max_bytes:
                break
        return chunks

    async def read_entry(self, entry: IndexEntry) -> bytes:
        """The batches of one index entry, patched with their offsets."""
        cache_key = (entry.object_key, entry.position, entry.length)
        data = self._ranges.get(cache_key)
        if data is None:
            data = await self.objects.get(entry.object_key, entry.position, entry.position + entry.length)
            self._ranges.put(cache_key, data)
        return patch_offsets(data, entry.base_offset)

    async def wait_for_append(self, keys: Iterable[PartitionKey], timeout: float) -> None:
        """Return when any of the partitions gets a commit, or after `timeout` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = list(keys)
        for key in keys:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[key]
