"""The partition log over object storage: write buffer, commits, reads and caches.

Write: batches from every partition gather in one buffer; a flush writes them as ONE
object, then commits them to the metadata store in ONE transaction that assigns offsets
(flushes whose objects are written while the previous commit runs share the next one);
only then are the appends' futures resolved. Where the object store's put is blocking work and
the metadata store commits on a thread of its own (a folder and SQLite, the embedded default),
each flush's put and commit are one call on that thread instead. Read: recent batches come from
a tail cache already patched with their offsets; older ones from the batch index (its entries
cached per partition) and object ranges (an LRU cache in memory, then an optional disk cache, in
front of the object store), patched on the way out. A read that starts where the partition's previous
read ended (a consumer catching up) starts a bounded read-ahead of the next ranges into the
caches in the background.

Other brokers sharing the metadata store commit too: the store's change reports
(MetadataStore.subscribe) advance the cached high watermarks and log starts, drop cached
index entries that compaction swapped, and wake long-poll fetches; when the store says
reports were missed, every cached state and index entry is dropped and read again.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from metadata.base import (
    AppendResult,
    Change,
    ChangesMissed,
    ChunkAppend,
    FlushCommit,
    IndexEntry,
    MetadataStore,
    PartitionChange,
    PartitionState,
    TopicChange,
)
from metadata.sqlite.log import SqliteLog
from protocol.records import BatchHeader, with_offsets
from storage.diskcache import DiskRangeCache, RangeKey
from storage.objects.base import BlockingPut, Buffer, ObjectNotFoundError, ObjectStore
from storage.stats import LogStats

log = logging.getLogger(__name__)

PartitionKey = tuple[UUID, int]
MAX_STALE_LOOKUPS = 3
INDEX_LOOKUP_ENTRIES = 16  # entries asked of the metadata store per look-up
INDEX_CACHE_ENTRIES = 4096  # cached index entries per partition (about 100 bytes each)
READ_AHEAD_ENTRIES = 64  # index rows looked up per read-ahead, before the byte bound applies
READ_AHEAD_GETS = 8  # read-ahead gets in flight over all partitions, so that fetches' own gets go first
# The largest flush object whose put runs in the same call as its commit, on the metadata store's
# thread (_put_and_commit). That saves a hand-over to a thread and back per flush, but every other
# metadata call waits behind the put: fine for a small put, not for a 2 MiB one with its fdatasync.
PUT_WITH_COMMIT_MAX_BYTES = 256 * 1024
LEADER_EPOCH = 0  # one epoch forever: any broker may append, the metadata store orders writes


class StorageError(Exception):
    """A flush failed (object store or metadata store); nothing in it was acknowledged."""


@dataclass
class _Pending:
    key: PartitionKey
    data: bytes | memoryview  # a view into the request that carried it: copied once, into the flush's object
    header: BatchHeader
    future: asyncio.Future[AppendResult]
    marker: int = -1  # a transaction marker's type (metadata.base.MARKER_*); -1: data


@dataclass
class _Flush:
    """One flushed object: its commit, its batches and its put, which must end before the commit."""

    commit: FlushCommit
    pending: list[_Pending]
    started: float  # time.monotonic() at the put's start
    put: asyncio.Task[None] = field(init=False)
    results: list[AppendResult] = field(default_factory=list)  # its chunks', once committed
    # Whether the put task committed it too (_put_and_commit), and time.monotonic() when its object
    # was written then.
    committed_by_put: bool = False
    written: float = 0.0


@dataclass
class _Tail:
    """One partition's newest committed batches, oldest first, as parallel deques of plain ints and bytes.

    The garbage collector tracks none of their items, so a full cache (hundreds of thousands of
    small batches) adds nothing to its passes: an object per batch made each gen2 pass tens of ms.
    """

    bases: deque[int] = field(default_factory=deque)  # base offsets, for bisect
    lasts: deque[int] = field(default_factory=deque)  # last offsets
    data: deque[bytes] = field(default_factory=deque)  # the batches, patched with their offsets


def patch_offsets(data: bytes | memoryview, base_offset: int) -> bytes:
    """A copy of stored batches with base offsets assigned from `base_offset` on and our leader epoch."""
    return with_offsets(data, base_offset, LEADER_EPOCH)


def _range_key(entry: IndexEntry) -> RangeKey:
    return (entry.object_key, entry.position, entry.length)


class _ByteBoundedLru:
    """An LRU of byte strings bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[RangeKey, bytes] = OrderedDict()

    def __contains__(self, key: RangeKey) -> bool:
        return key in self._items

    def get(self, key: RangeKey) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: RangeKey, value: bytes) -> None:
        if len(value) > self.max_bytes or key in self._items:
            return
        self._items[key] = value
        self.size += len(value)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)


class _IndexCache:
    """Index entries of each partition: one run of adjacent entries, the newest kept when it grows too long."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._runs: dict[PartitionKey, list[IndexEntry]] = {}

    def lookup(self, key: PartitionKey, offset: int, limit: int) -> list[IndexEntry]:
        """Up to `limit` cached entries from the one holding `offset` on; empty unless it is cached."""
        run = self._runs.get(key)
        if not run or not run[0].base_offset <= offset <= run[-1].last_offset:
            return []
        first = bisect.bisect_right(run, offset, key=_base_offset) - 1
        return run[first : first + limit]

    def add(self, key: PartitionKey, entries: list[IndexEntry]) -> None:
        """Cache entries just looked up: they extend the run when they join it, else replace it."""
        if not entries:
            return
        run = self._runs.get(key, [])
        start = entries[0].base_offset
        if run and run[0].base_offset <= start <= run[-1].last_offset + 1:
            run = run[: bisect.bisect_left(run, start, key=_base_offset)]
        if run and run[-1].last_offset + 1 != start:
            run = []  # the looked-up entries are cut differently (compaction): keep only those
        self._runs[key] = (run + entries)[-self.max_entries :]

    def trim(self, key: PartitionKey, log_start_offset: int) -> None:
        """Drop entries wholly below the log start."""
        run = self._runs.get(key)
        if run:
            self._runs[key] = [entry for entry in run if entry.last_offset >= log_start_offset]

    def drop(self, key: PartitionKey) -> None:
        self._runs.pop(key, None)

    def forget_topic(self, topic_id: UUID) -> None:
        for key in [key for key in self._runs if key[0] == topic_id]:
            del self._runs[key]

    def clear(self) -> None:
        self._runs.clear()


def _base_offset(entry: IndexEntry) -> int:
    return entry.base_offset


async def _put_and_commit(
    objects: BlockingPut, metadata: SqliteLog, flush: _Flush, key: str, parts: list[Buffer]
) -> None:
    """Write a flush's object, then commit it, in one call on the metadata store's thread.

    Flushes still commit in flush order: the calls queue on that one thread in the order they are
    made. A write that fails commits nothing; either failure fails the flush, as a failed put or
    commit does on the other path.
    """

    def write() -> None:
        objects.put_blocking(key, parts)
        flush.written = time.monotonic()

    flush.results = (await metadata.commit_flushes_after(write, [flush.commit]))[0]
    flush.committed_by_put = True


def _tail_holds(tail: _Tail | None, offset: int) -> bool:
    """Whether the tail cache has the batch holding `offset` (another broker may have appended after it)."""
    return tail is not None and bool(tail.bases) and tail.bases[0] <= offset <= tail.lasts[-1]


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
        read_ahead_bytes: int = 0,
        disk_cache: DiskRangeCache | None = None,
    ) -> None:
        self.objects = objects
        self.metadata = metadata
        # A folder's put and SQLite's commit: one call on SQLite's thread, one hand-over instead of
        # two. Only with one flush in flight: each flush is then committed before the next starts,
        # so commits stay in flush order whichever way each one goes.
        self._put_then_commit: tuple[BlockingPut, SqliteLog] | None = (
            (objects, metadata.log)
            if isinstance(objects, BlockingPut) and isinstance(metadata.log, SqliteLog) and flushes_in_flight == 1
            else None
        )
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
        self._flushes: deque[_Flush] = deque()  # in flush order, until committed (or failed)
        self._commit_ready = asyncio.Event()  # a put ended, or the log is closing
        self._commit_task: asyncio.Task[None] | None = None
        self._flush_slots = asyncio.Semaphore(flushes_in_flight)
        self._flush_sequence = 0
        self._closing = False
        self._states: dict[PartitionKey, PartitionState] = {}
        self._tails: dict[PartitionKey, _Tail] = {}
        self._tail_order: deque[_Tail] = deque()  # the tail of each cached batch, oldest batch first
        self._tail_bytes = 0
        self._ranges = _ByteBoundedLru(object_cache_bytes)
        self._index = _IndexCache(INDEX_CACHE_ENTRIES)
        self._disk_cache = disk_cache
        self._gets: dict[RangeKey, asyncio.Task[bytes]] = {}  # ranges being loaded, shared by their readers
        self.read_ahead_bytes = read_ahead_bytes
        self._read_ends: dict[PartitionKey, int] = {}  # where each partition's last read from objects ended
        self._read_aheads: dict[PartitionKey, asyncio.Task[None]] = {}
        self._read_ahead_slots = asyncio.Semaphore(READ_AHEAD_GETS)
        self._waiters: dict[PartitionKey, set[asyncio.Future[None]]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.stats = LogStats()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe = self.metadata.cluster.subscribe(self._changed)
        self._flush_task = asyncio.create_task(self._flush_loop(), name="flush-loop")
        self._commit_task = asyncio.create_task(self._commit_loop(), name="commit-loop")

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
        self._commit_ready.set()
        if self._commit_task is not None:
            await self._commit_task
        if self._unsubscribe is not None:
            self._unsubscribe()
        read_aheads = list(self._read_aheads.values())
        for task in read_aheads:
            task.cancel()
        await asyncio.gather(*read_aheads, return_exceptions=True)

    # -- write path --------------------------------------------------------

    def append(
        self, topic_id: UUID, partition: int, data: bytes | memoryview, header: BatchHeader, marker: int = -1
    ) -> asyncio.Future[AppendResult]:
        """Queue one validated batch (or a transaction marker); the future resolves once it is committed (or fails)."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_exception(StorageError("broker is shutting down"))
            return future
        if not self._pending:
            self._first_pending_at = time.monotonic()
        self._pending.append(_Pending((topic_id, partition), data, header, future, marker))
        self.stats.batches_written += 1
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
            # A slot first, the batches after: what arrives while every slot is busy joins this flush.
            await self._flush_slots.acquire()
            pending = self._take_pending()
            self._flush_now.clear()
            if self._pending:
                self._flush_now.set()  # the rest of a burst: the next object, as soon as a slot is free
            elif not self._closing:
                self._has_pending.clear()
            self._start_flush(pending)

    def _take_pending(self) -> list[_Pending]:
        """The oldest pending batches up to flush_bytes (always at least one): the next object's.

        A burst is written as several objects, not one: an object's bytes are all joined, written and
        synced before its commit, so a large one kept producers waiting on that whole chain. On local
        disk, under four producers of 1 KiB records, objects of up to 2 MiB took 250-270k msg/s where
        objects of whatever had gathered (tens of MB) took 160-210k.
        """
        taken_bytes = 0
        count = 0
        for item in self._pending:
            if count and taken_bytes + len(item.data) > self.flush_bytes:
                break
            taken_bytes += len(item.data)
            count += 1
        taken, self._pending = self._pending[:count], self._pending[count:]
        self._pending_bytes -= taken_bytes
        return taken

    def _start_flush(self, pending: list[_Pending]) -> None:
        """Start writing one object of the pending batches; its commit waits for the flushes before it."""
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
                    transactional=header.is_transactional,
                    marker=item.marker,
                )
            )
            position += len(item.data)
        flush = _Flush(FlushCommit(key, position, chunks), pending, time.monotonic())
        # The batches as parts, not joined: the store writes them where they are (pwritev on a folder).
        parts: list[Buffer] = [item.data for item in pending]
        if self._put_then_commit is not None and position <= PUT_WITH_COMMIT_MAX_BYTES:
            flush.put = asyncio.create_task(self._put(_put_and_commit(*self._put_then_commit, flush, key, parts)))
        else:
            flush.put = asyncio.create_task(self._put(self.objects.put(key, parts)))
        self._flushes.append(flush)

    async def _put(self, put: Coroutine[object, object, None]) -> None:
        """Run a flush's put, then wake the commit loop.

        Woken from here, the commit loop runs in the next pass of the event loop; a done callback of
        the put's task would run in the next pass, and only then wake it.
        """
        try:
            await put
        finally:
            self._commit_ready.set()

    async def _commit_loop(self) -> None:
        """Commit flushes in flush order: all those at the head whose objects are written, in ONE transaction.

        Puts overlap, so throughput is not one object-store round trip per flush; the flushes whose
        puts end while a commit runs share the next commit (group commit: one metadata transaction
        and one durable write for all of them). Commits stay in flush order, so a producer's
        pipelined batches keep their order. Where each put task commits its own flush
        (_put_and_commit), this only hands their results on, in flush order.
        """
        while True:
            await self._commit_ready.wait()
            self._commit_ready.clear()
            group = []
            while self._flushes and self._flushes[0].put.done():
                group.append(self._flushes.popleft())
            if group:
                try:
                    await self._commit(group)
                except Exception as exc:  # a bug: fail what is left of this group, keep committing later flushes
                    log.exception("commit of %d flushes failed", len(group))
                    for flush in group:
                        self._fail(flush, exc)
                finally:
                    for _ in group:
                        self._flush_slots.release()
            elif not self._flushes and self._flush_task is not None and self._flush_task.done():
                return

    async def _commit(self, group: list[_Flush]) -> None:
        written = []
        for flush in group:
            error = StorageError("object put cancelled") if flush.put.cancelled() else flush.put.exception()
            if error is None:
                written.append(flush)
            else:
                self._fail(flush, error)
        if not written:
            return
        stats = self.stats
        uncommitted = [flush for flush in written if not flush.committed_by_put]
        if uncommitted:
            committing = time.monotonic()
            try:
                results = await self.metadata.log.commit_flushes([flush.commit for flush in uncommitted])
            except Exception as exc:
                # An object put before a failed commit stays behind, named by no index row and no
                # objects row: garbage for a collector that lists the store, never acknowledged data.
                for flush in uncommitted:
                    self._fail(flush, exc)
                written = [flush for flush in written if flush.committed_by_put]  # still answered
            else:
                stats.commit_seconds.observe(time.monotonic() - committing)
                for flush, flush_results in zip(uncommitted, results, strict=True):
                    flush.results = flush_results
        committed = time.monotonic()
        for flush in written:
            if flush.committed_by_put:
                stats.commit_seconds.observe(committed - flush.written)
            stats.flushes += 1
            stats.flush_bytes.observe(flush.commit.object_size)
            stats.flush_to_commit_seconds.observe(committed - flush.started)
            for item, chunk, result in zip(flush.pending, flush.commit.chunks, flush.results, strict=True):
                if result.error_code == 0 and not result.duplicate:
                    self._committed(item, chunk, result)
                if not item.future.done():
                    item.future.set_result(result)

    def _fail(self, flush: _Flush, error: BaseException) -> None:
        self.stats.flush_failures += 1
        log.warning("flush of %d batches failed: %s", len(flush.pending), error)
        failure = StorageError(str(error))
        for item in flush.pending:
            if not item.future.done():
                item.future.set_exception(failure)

    def _committed(self, item: _Pending, chunk: ChunkAppend, result: AppendResult) -> None:
        last_offset = result.base_offset + chunk.record_count - 1
        self._advance(item.key, result.log_start_offset, last_offset + 1)
        self._add_tail(item.key, result.base_offset, last_offset, patch_offsets(item.data, result.base_offset))
        self._wake(item.key)

    def _advance(self, key: PartitionKey, log_start_offset: int, high_watermark: int) -> None:
        """Move a partition's cached state up to what a commit or a change report says (reports may come late)."""
        state = self._states.get(key)
        if state is not None:
            log_start_offset = max(state.log_start_offset, log_start_offset)
            high_watermark = max(state.high_watermark, high_watermark)
        self._states[key] = PartitionState(log_start_offset, high_watermark)

    def _wake(self, key: PartitionKey) -> None:
        """Resolve the long polls waiting on a partition."""
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _changed(self, change: Change) -> None:
        """Follow a change report of the metadata store (this broker's own changes are applied already)."""
        if isinstance(change, ChangesMissed):
            self._states.clear()
            self._index.clear()
            for key in list(self._waiters):
                self._wake(key)
            return
        if isinstance(change, PartitionChange) and change.index_rewritten:
            self._index.drop((change.topic_id, change.partition))  # cached entries name objects soon collected
        if change.local:
            return
        if isinstance(change, TopicChange):
            self.forget_topic(change.topic_id)
            for key in [key for key in self._waiters if key[0] == change.topic_id]:
                self._wake(key)
            return
        key = (change.topic_id, change.partition)
        self._advance(key, change.log_start_offset, change.high_watermark)
        self._index.trim(key, change.log_start_offset)
        self._wake(key)

    def _add_tail(self, key: PartitionKey, base_offset: int, last_offset: int, data: bytes) -> None:
        tail = self._tails.get(key)
        if tail is not None and tail.lasts and tail.lasts[-1] + 1 != base_offset:
            # Another broker appended in between: the tail is no longer contiguous.
            self._drop_tail(key)
            tail = None
        if tail is None:  # not setdefault: that would make a _Tail, three deques, for every batch
            tail = self._tails[key] = _Tail()
        tail.bases.append(base_offset)
        tail.lasts.append(last_offset)
        tail.data.append(data)
        self._tail_order.append(tail)
        self._tail_bytes += len(data)
        while self._tail_bytes > self.tail_cache_bytes and self._tail_order:
            oldest = self._tail_order.popleft()
            self._tail_bytes -= len(oldest.data.popleft())
            oldest.bases.popleft()
            oldest.lasts.popleft()

    def _drop_tail(self, key: PartitionKey) -> None:
        tail = self._tails.pop(key, None)
        if tail is not None:
            self._tail_bytes -= sum(map(len, tail.data))
            self._tail_order = deque(cached for cached in self._tail_order if cached is not tail)

    # -- state -------------------------------------------------------------

    async def state(self, topic_id: UUID, partition: int) -> PartitionState:
        """Log start offset and high watermark of a partition."""
        key = (topic_id, partition)
        state = self._states.get(key)
        if state is None:
            states = await self.metadata.log.partition_states(topic_id)
            for index, loaded in enumerate(states):
                self._states.setdefault((topic_id, index), loaded)
            state = self._states.get(key, PartitionState(0, 0))
        return state

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        state = await self.metadata.log.set_log_start_offset(topic_id, partition, offset)
        self._states[(topic_id, partition)] = state
        self._index.trim((topic_id, partition), state.log_start_offset)
        return state

    def forget_topic(self, topic_id: UUID) -> None:
        """Drop cached state of a deleted topic."""
        for key in [key for key in self._states if key[0] == topic_id]:
            del self._states[key]
        for key in [key for key in self._tails if key[0] == topic_id]:
            self._drop_tail(key)
        self._index.forget_topic(topic_id)
        for key in [key for key in self._read_ends if key[0] == topic_id]:
            del self._read_ends[key]

    # -- read path ---------------------------------------------------------

    async def read(
        self, topic_id: UUID, partition: int, offset: int, max_bytes: int, first_whole: bool = True
    ) -> list[bytes]:
        """Batches from the one holding `offset` on, patched, up to max_bytes.

        With first_whole, the first batch comes even when it alone exceeds max_bytes.
        """
        key = (topic_id, partition)
        tail = self._tails.get(key)
        if tail is not None and _tail_holds(tail, offset):
            self.stats.cache_hits["tail"] += 1
        else:
            self.stats.cache_misses["tail"] += 1
        chunks: list[bytes] = []
        size = 0
        next_offset = offset
        stale_lookups = 0
        known = self._states.get(key)
        sequential = self._read_ends.get(key) == offset
        while size < max_bytes:
            if known is not None and next_offset >= known.high_watermark:
                break  # nothing more is committed, as far as this broker knows: no look-up needed
            if tail is not None and _tail_holds(tail, next_offset):
                # Another broker may have appended after the tail: read on from the index then.
                from_tail, next_offset = self._read_tail(
                    tail, next_offset, max_bytes - size, first_whole and not chunks
                )
                if not from_tail:
                    break
                chunks += from_tail
                size += sum(len(data) for data in from_tail)
                continue
            entries = await self._find_index(key, next_offset)
            if not entries:
                break
            for entry in entries:
                try:
                    data = await self.read_entry(entry)
                except ObjectNotFoundError:
                    # Compaction or retention swapped the entry and collected its object since
                    # the look-up: look the offsets up again.
                    self._index.drop(key)
                    stale_lookups += 1
                    if stale_lookups > MAX_STALE_LOOKUPS:
                        raise
                    break
                if (chunks or not first_whole) and size + len(data) > max_bytes:
                    return self._read_done(key, next_offset, sequential, chunks)
                chunks.append(data)
                size += len(data)
                next_offset = entry.last_offset + 1
                if size >= max_bytes:
                    return self._read_done(key, next_offset, sequential, chunks)
                if tail is not None and _tail_holds(tail, next_offset):
                    break  # on from the tail cache
        return self._read_done(key, next_offset, sequential, chunks)

    async def _find_index(self, key: PartitionKey, offset: int) -> list[IndexEntry]:
        """Index entries from the one holding `offset` on: cached, else looked up (and cached)."""
        entries = self._index.lookup(key, offset, INDEX_LOOKUP_ENTRIES)
        if not entries:
            entries = await self.metadata.log.find_index(key[0], key[1], offset, INDEX_LOOKUP_ENTRIES)
            self._index.add(key, entries)
        return entries

    def _read_done(self, key: PartitionKey, next_offset: int, sequential: bool, chunks: list[bytes]) -> list[bytes]:
        """Remember where this read from objects ended; a second read in a row starts a read-ahead."""
        self._read_ends[key] = next_offset
        tail = self._tails.get(key)
        state = self._states.get(key)
        # A reader at the tail or the high watermark has nothing left to read ahead for.
        caught_up = (tail is not None and _tail_holds(tail, next_offset)) or (
            state is not None and next_offset >= state.high_watermark
        )
        if sequential and chunks and not caught_up and self.read_ahead_bytes > 0 and key not in self._read_aheads:
            task = asyncio.create_task(self._read_ahead(key, next_offset), name=f"read-ahead-{key[0]}-{key[1]}")
            self._read_aheads[key] = task
            task.add_done_callback(lambda _: self._read_aheads.pop(key, None))
        return chunks

    async def _read_ahead(self, key: PartitionKey, offset: int) -> None:
        """Load the ranges after `offset`, up to read_ahead_bytes, into the caches; failures are left to fetches."""
        try:
            entries = await self.metadata.log.find_index(key[0], key[1], offset, READ_AHEAD_ENTRIES)
            self._index.add(key, entries)
        except Exception as exc:  # the fetch that needs these offsets will meet the failure and report it
            log.debug("read-ahead of %s/%d: index look-up failed: %s", *key, exc)
            return
        tail = self._tails.get(key)
        tail_start = tail.bases[0] if tail is not None and tail.bases else None
        budget = self.read_ahead_bytes
        wanted: list[IndexEntry] = []
        for entry in entries:
            if entry.length > budget or (tail_start is not None and entry.base_offset >= tail_start):
                break
            budget -= entry.length
            if _range_key(entry) not in self._ranges:
                wanted.append(entry)

        async def load(entry: IndexEntry) -> None:
            async with self._read_ahead_slots:
                await self._load_range(entry)

        results = await asyncio.gather(*(load(entry) for entry in wanted), return_exceptions=True)
        failures = [result for result in results if isinstance(result, Exception)]
        if failures:
            log.debug("read-ahead of %s/%d: %d of %d ranges failed: %s", *key, len(failures), len(wanted), failures[0])

    def _read_tail(self, tail: _Tail, offset: int, max_bytes: int, first_whole: bool) -> tuple[list[bytes], int]:
        """Batches of the tail from the one holding `offset` on, up to max_bytes; and the offset after them."""
        index = max(bisect.bisect_right(tail.bases, offset) - 1, 0)
        chunks: list[bytes] = []
        size = 0
        next_offset = offset
        for data, last_offset in itertools.islice(zip(tail.data, tail.lasts, strict=True), index, None):
            if (chunks or not first_whole) and size + len(data) > max_bytes:
                break
            chunks.append(data)
            size += len(data)
            next_offset = last_offset + 1
            if size >= max_bytes:
                break
        return chunks, next_offset

    async def read_entry(self, entry: IndexEntry) -> bytes:
        """The batches of one index entry, patched with their offsets."""
        return patch_offsets(await self.read_stored(entry), entry.base_offset)

    async def read_stored(self, entry: IndexEntry) -> bytes:
        """The batches of one index entry as stored: their base offsets are whatever they arrived with."""
        data = self._ranges.get(_range_key(entry))
        if data is None:
            self.stats.cache_misses["object_range"] += 1
            return await self._load_range(entry)
        self.stats.cache_hits["object_range"] += 1
        return data

    async def _load_range(self, entry: IndexEntry) -> bytes:
        """An entry's stored bytes: from memory, else the disk cache, else the object store (one get at a time)."""
        range_key = _range_key(entry)
        data = self._ranges.get(range_key)
        if data is not None:
            return data
        loading = self._gets.get(range_key)
        if loading is None:
            loading = asyncio.create_task(self._get_range(range_key))
            self._gets[range_key] = loading
            loading.add_done_callback(functools.partial(self._loaded, range_key))
        # Shielded: a reader that gives up (a fetch's connection closed) does not cancel the others' get.
        return await asyncio.shield(loading)

    def _loaded(self, range_key: RangeKey, task: asyncio.Task[bytes]) -> None:
        del self._gets[range_key]
        if not task.cancelled():
            task.exception()  # its readers got the error; if all of them gave up, it is not worth a warning

    async def _get_range(self, range_key: RangeKey) -> bytes:
        object_key, position, length = range_key
        data = None if self._disk_cache is None else await self._disk_cache.get(range_key)
        if self._disk_cache is not None:
            counts = self.stats.cache_misses if data is None else self.stats.cache_hits
            counts["disk"] += 1
        if data is None:
            data = await self.objects.get(object_key, position, position + length)
            if self._disk_cache is not None:
                await self._disk_cache.put(range_key, data)
        self._ranges.put(range_key, data)
        return data

    def cache_sizes(self) -> dict[str, int]:
        """Bytes held by each read cache."""
        sizes = {"tail": self._tail_bytes, "object_range": self._ranges.size}
        if self._disk_cache is not None:
            sizes["disk"] = self._disk_cache.size
        return sizes

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
