"""How a flush's object is stored and its batches committed: the commit strategies of the writer.

Either way a flush is acknowledged only once its object is stored and its commit made, and flushes
commit in flush order. PutThenCommit puts objects through the object store, several at once, and
commits the flushes whose puts ended in one metadata transaction (group commit). PutOnCommitThread
writes an object on the metadata store's own thread, right before the commit, in one hand-over
to that thread and back instead of two, when that thread is free: a flush started while a commit
runs is put ahead instead, its write and fdatasync overlapping that commit, so that a request
arriving mid-commit does not wait for the commit and then for its own object's whole chain. For a
folder (a blocking put any thread may do) and SQLite (commits on a thread of its own). The broker's
configuration chooses one (broker.config).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from typing import NamedTuple, Protocol, cast

from streamhouse.metadata.base import AppendResult, FlushCommit
from streamhouse.storage.objects import is_folder_url
from streamhouse.storage.objects.base import BlockingPut, Buffer, ObjectStore
from streamhouse.tracing import TRACE

PUT_THEN_COMMIT = "put-then-commit"
ON_METADATA_THREAD = "metadata-thread"
COMMIT_STRATEGIES = (PUT_THEN_COMMIT, ON_METADATA_THREAD)
# The largest flush object written on the metadata store's thread: every other metadata call waits
# behind that write, fine for a small put, not for a 2 MiB one with its fdatasync. Larger ones are
# put ahead, on a thread of their own.
PUT_WITH_COMMIT_MAX_BYTES = 256 * 1024


class FlushObject(Protocol):
    """A flush as a strategy sees it: its commit (object key, size, chunks) and its object's parts."""

    @property
    def commit(self) -> FlushCommit: ...

    @property
    def parts(self) -> list[Buffer]: ...


class Committed(NamedTuple):
    results: list[list[AppendResult]]  # each flush's chunks' results
    began: float  # time.monotonic() when the metadata transaction began, after any object write


class CommitStrategy(Protocol):
    def put(self, flush: FlushObject) -> Coroutine[object, object, None] | None:
        """The put of a flush's object ahead of its commit, to run at once; None: `commit` stores it."""
        ...

    async def commit(self, flushes: Sequence[FlushObject]) -> Committed:
        """Commit flushes whose puts ended, in order, in one metadata transaction (storing what put left)."""
        ...


class FlushCommitter(Protocol):
    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]: ...


class CommitsAfterWrite(Protocol):
    """A metadata store that commits on a thread of its own and can run a blocking write there first."""

    async def commit_flushes_after(
        self, write: Callable[[], object], flushes: Sequence[FlushCommit]
    ) -> list[list[AppendResult]]: ...


async def _put(objects: ObjectStore, flush: FlushObject) -> None:
    key = flush.commit.object_key
    TRACE.event("put called", key)
    await objects.put(key, flush.parts)
    TRACE.event("put returned", key)


class PutThenCommit:
    """Objects put through the object store, overlapping; then one commit_flushes for those put."""

    def __init__(self, objects: ObjectStore, metadata: FlushCommitter) -> None:
        self.objects = objects
        self.metadata = metadata

    def put(self, flush: FlushObject) -> Coroutine[object, object, None]:
        return _put(self.objects, flush)

    async def commit(self, flushes: Sequence[FlushObject]) -> Committed:
        commits = [flush.commit for flush in flushes]
        TRACE.event("commit called", commits)
        began = time.monotonic()
        results = await self.metadata.commit_flushes(commits)
        TRACE.event("commit returned", commits)
        return Committed(results, began)


class PutOnCommitThread:
    """An object of at most `max_put_bytes` written on the metadata store's thread, right before the commit,
    unless a commit runs when its flush starts: then it is put ahead, on a thread of its own.

    A write that fails commits nothing: the flushes of that commit fail.
    """

    def __init__(
        self, objects: BlockingPut, metadata: CommitsAfterWrite, max_put_bytes: int = PUT_WITH_COMMIT_MAX_BYTES
    ) -> None:
        self.objects = objects
        self.metadata = metadata
        self.max_put_bytes = max_put_bytes
        self._commits_running = 0
        self._put_ahead: set[str] = set()  # keys of the objects put before their commit

    def put(self, flush: FlushObject) -> Coroutine[object, object, None] | None:
        if flush.commit.object_size <= self.max_put_bytes and not self._commits_running:
            return None
        self._put_ahead.add(flush.commit.object_key)
        return _put(self.objects, flush)

    async def commit(self, flushes: Sequence[FlushObject]) -> Committed:
        unwritten = [flush for flush in flushes if flush.commit.object_key not in self._put_ahead]
        self._put_ahead.difference_update(flush.commit.object_key for flush in flushes)
        began = 0.0

        def write() -> None:
            nonlocal began
            for flush in unwritten:
                self.objects.put_blocking(flush.commit.object_key, flush.parts)
            began = time.monotonic()

        commits = [flush.commit for flush in flushes]
        for flush in unwritten:
            TRACE.event("put called", flush.commit.object_key)
        if not unwritten:
            TRACE.event("commit called", commits)
        self._commits_running += 1
        try:
            results = await self.metadata.commit_flushes_after(write, commits)
        finally:
            self._commits_running -= 1
        TRACE.event("commit returned", commits)
        return Committed(results, began)


def commit_strategy_for(name: str | None, storage_url: str, metadata_url: str, flushes_in_flight: int) -> str:
    """The strategy `name` (None: the one that suits these stores), or ValueError if the stores cannot run it.

    The default writes on the metadata store's thread with a folder, SQLite and up to two flushes in
    flight (the second one's put overlapping the first one's commit): with more in flight, puts that
    overlap (and group commit) do more.
    """
    thread_capable = is_folder_url(storage_url) and metadata_url.startswith("sqlite://")
    if name is None:
        return ON_METADATA_THREAD if thread_capable and flushes_in_flight <= 2 else PUT_THEN_COMMIT
    if name not in COMMIT_STRATEGIES:
        raise ValueError(f"commit strategy {name!r} is not one of {', '.join(COMMIT_STRATEGIES)}")
    if name == ON_METADATA_THREAD and not thread_capable:
        raise ValueError(f"commit strategy {name} needs a folder object store and SQLite metadata")
    return name


def open_commit_strategy(name: str, objects: ObjectStore, metadata: FlushCommitter) -> CommitStrategy:
    """The strategy `name` over these stores; commit_strategy_for checked that they can run it."""
    if name == ON_METADATA_THREAD:
        # A folder's store has put_blocking and SQLite's has commit_flushes_after (commit_strategy_for).
        return PutOnCommitThread(cast(BlockingPut, objects), cast(CommitsAfterWrite, metadata))
    return PutThenCommit(objects, metadata)
