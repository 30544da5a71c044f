"""The write path: a buffer of batches from every partition, flushed as objects and committed in flush order.

A flush writes ONE object of the batches gathered, then commits them to the metadata store in ONE
transaction that assigns offsets (flushes whose objects are written while the previous commit runs
share the next one: group commit); only then are the appends' futures resolved. How the object is
stored and the commit made is the commit strategy's (storage.commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from uuid import UUID

from streamhouse.metadata.base import AppendResult, ChunkAppend, FlushCommit
from streamhouse.protocol.records import BatchHeader
from streamhouse.storage.caches import PartitionKey
from streamhouse.storage.commit import CommitStrategy
from streamhouse.storage.objects.base import Buffer
from streamhouse.storage.stats import LogStats
from streamhouse.tracing import TRACE

log = logging.getLogger(__name__)

# Called for each batch committed: its partition, base and last offsets, the partition's log start,
# and its bytes as stored.
Committed = Callable[[PartitionKey, int, int, int, bytes | memoryview], None]


class StorageError(Exception):
    """A flush failed (object store or metadata store); nothing in it was acknowledged."""


@dataclass
class Pending:
    key: PartitionKey
    data: bytes | memoryview  # a view into the request that carried it: copied once, into the flush's object
    header: BatchHeader
    future: asyncio.Future[AppendResult]
    marker: int = -1  # a transaction marker's type (metadata.base.MARKER_*); -1: data


@dataclass
class Flush:
    """One flushed object: its commit, its batches, and the put that must end before the commit (if any)."""

    commit: FlushCommit
    pending: list[Pending]
    parts: list[Buffer]  # the batches as parts, not joined: the store writes them where they are
    started: float  # time.monotonic() at the flush's start
    put: asyncio.Task[None] | None = field(default=None, init=False)  # None: the commit stores the object

    def stored(self) -> bool:
        """Whether the flush may be committed: its put ended (or is left to the commit)."""
        return self.put is None or self.put.done()

    def put_error(self) -> BaseException | None:
        if self.put is None:
            return None
        return StorageError("object put cancelled") if self.put.cancelled() else self.put.exception()


class LogWriter:
    """The write buffer of every partition, its flushes and their commits."""

    def __init__(
        self,
        commits: CommitStrategy,
        stats: LogStats,
        committed: Committed,
        *,
        broker_id: int,
        flush_ms: int,
        flush_bytes: int,
        flushes_in_flight: int,
    ) -> None:
        self.commits = commits
        self.stats = stats
        self.committed = committed
        self.broker_id = broker_id
        self.flush_ms = flush_ms
        self.flush_bytes = flush_bytes
        self._pending: list[Pending] = []
        self._pending_bytes = 0
        self._first_pending_at = 0.0
        self._has_pending = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._flush_task: asyncio.Task[None] | None = None
        self._flushes: deque[Flush] = deque()  # in flush order, until committed (or failed)
        self._commit_ready = asyncio.Event()  # a flush is stored, or the writer is closing
        self._commit_task: asyncio.Task[None] | None = None
        self._flush_slots = asyncio.Semaphore(flushes_in_flight)
        self._flush_sequence = 0
        self._closing = False

    def start(self) -> None:
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
        self._pending.append(Pending((topic_id, partition), data, header, future, marker))
        self.stats.batches_written += 1
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.flush_bytes:
            self._flush_now.set()
        self._has_pending.set()
        TRACE.event("appended", future)
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

    def _take_pending(self) -> list[Pending]:
        """The oldest pending batches up to flush_bytes (always at least one): the next object's.

        A burst is written as several objects, not one: an object's bytes are all joined, written and
        synced before its commit, so one large object would keep producers waiting on that whole chain.
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

    def _start_flush(self, pending: list[Pending]) -> None:
        """Start storing one object of the pending batches; its commit waits for the flushes before it."""
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
        flush = Flush(FlushCommit(key, position, chunks), pending, [item.data for item in pending], time.monotonic())
        TRACE.event("flush started", flush)
        put = self.commits.put(flush)
        if put is not None:
            flush.put = asyncio.create_task(self._put(put))
        self._flushes.append(flush)
        if put is None:
            self._commit_ready.set()

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
        """Commit flushes in flush order: all those at the head that are stored, in ONE transaction.

        Puts overlap, so throughput is not one object-store round trip per flush; the flushes whose
        puts end while a commit runs share the next commit (one metadata transaction and one durable
        write for all of them). Commits stay in flush order, so a producer's pipelined batches keep
        their order.
        """
        while True:
            await self._commit_ready.wait()
            self._commit_ready.clear()
            group = []
            while self._flushes and self._flushes[0].stored():
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

    async def _commit(self, group: list[Flush]) -> None:
        stored = []
        for flush in group:
            error = flush.put_error()
            if error is None:
                stored.append(flush)
            else:
                self._fail(flush, error)
        if not stored:
            return
        try:
            committed = await self.commits.commit(stored)
        except Exception as exc:
            # An object put before a failed commit stays behind, named by no index row and no
            # objects row: garbage for a collector that lists the store, never acknowledged data.
            for flush in stored:
                self._fail(flush, exc)
            return
        ended = time.monotonic()
        stats = self.stats
        stats.commit_seconds.observe(ended - committed.began)
        for flush, results in zip(stored, committed.results, strict=True):
            stats.flushes += 1
            stats.flush_bytes.observe(flush.commit.object_size)
            stats.flush_to_commit_seconds.observe(ended - flush.started)
            for item, chunk, result in zip(flush.pending, flush.commit.chunks, results, strict=True):
                if result.error_code == 0 and not result.duplicate:
                    last_offset = result.base_offset + chunk.record_count - 1
                    self.committed(item.key, result.base_offset, last_offset, result.log_start_offset, item.data)
                if not item.future.done():
                    item.future.set_result(result)
            TRACE.event("flush answered", flush)

    def _fail(self, flush: Flush, error: BaseException) -> None:
        self.stats.flush_failures += 1
        log.warning("flush of %d batches failed: %s", len(flush.pending), error)
        failure = StorageError(str(error))
        for item in flush.pending:
            if not item.future.done():
                item.future.set_exception(failure)
