"""The commit strategies alone, over stores that record what ran where, and how the broker picks one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from streamhouse.metadata.base import AppendResult, FlushCommit
from streamhouse.storage.commit import (
    ON_METADATA_THREAD,
    PUT_THEN_COMMIT,
    PutOnCommitThread,
    PutThenCommit,
    commit_strategy_for,
    open_commit_strategy,
)
from streamhouse.storage.objects.base import Buffer, ObjectData
from streamhouse.storage.objects.memory import MemoryObjectStore


@dataclass
class Flush:
    commit: FlushCommit
    parts: list[Buffer]


def flush(key: str, size: int) -> Flush:
    return Flush(FlushCommit(key, size, []), [b"x" * size])


class RecordingObjects(MemoryObjectStore):
    """Memory objects whose puts, blocking or not, note the thread they ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, str] = {}

    async def put(self, key: str, data: ObjectData) -> None:
        self.threads[key] = threading.current_thread().name
        await super().put(key, data)

    def put_blocking(self, key: str, data: ObjectData) -> None:
        self.threads[key] = threading.current_thread().name


class ThreadedMetadata:
    """Commits on a thread of its own (named "metadata_0"), after any write; records each commit's keys."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="metadata")

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        return await self.commit_flushes_after(lambda: None, flushes)

    async def commit_flushes_after(
        self, write: Callable[[], object], flushes: Sequence[FlushCommit]
    ) -> list[list[AppendResult]]:
        def run() -> list[list[AppendResult]]:
            write()
            self.commits.append([flush.object_key for flush in flushes])
            return [[] for _ in flushes]

        return await asyncio.get_running_loop().run_in_executor(self.thread, run)


async def test_put_then_commit_puts_through_the_store_then_commits_the_group() -> None:
    objects, metadata = RecordingObjects(), ThreadedMetadata()
    strategy = PutThenCommit(objects, metadata)
    first, second = flush("a", 10), flush("b", 10)
    for each in (first, second):
        put = strategy.put(each)
        await put
    committed = await strategy.commit([first, second])
    assert await objects.get("a") == b"x" * 10
    assert metadata.commits == [["a", "b"]] and len(committed.results) == 2
    assert objects.threads["a"] == threading.main_thread().name


async def test_on_the_commit_thread_small_objects_are_written_there_right_before_the_commit() -> None:
    objects, metadata = RecordingObjects(), ThreadedMetadata()
    strategy = PutOnCommitThread(objects, metadata, max_put_bytes=100)
    small, large = flush("small", 100), flush("large", 101)
    assert strategy.put(small) is None  # left to the commit
    put = strategy.put(large)
    assert put is not None
    await put  # a large object is put ahead, keeping the metadata thread free
    await strategy.commit([large, small])
    assert objects.threads == {"large": threading.main_thread().name, "small": "metadata_0"}
    assert metadata.commits == [["large", "small"]]


async def test_on_the_commit_thread_a_flush_started_during_a_commit_is_put_ahead_meanwhile() -> None:
    """The second flush's object is written (on the caller's side) while the first one's commit runs."""
    objects, metadata = RecordingObjects(), ThreadedMetadata()
    strategy = PutOnCommitThread(objects, metadata)
    first, second, third = flush("first", 10), flush("second", 10), flush("third", 10)
    assert strategy.put(first) is None
    in_commit = threading.Event()
    release = threading.Event()

    def held_write() -> None:
        in_commit.set()
        release.wait(10)

    metadata.thread.submit(held_write)  # the metadata thread busy, as with a long COMMIT
    committing = asyncio.create_task(strategy.commit([first]))
    await asyncio.to_thread(in_commit.wait, 10)
    await asyncio.sleep(0)  # the commit task has started and waits for the thread
    put = strategy.put(second)
    assert put is not None
    await put  # done while the first commit still waits: the write overlapped it
    assert metadata.commits == [] and objects.threads == {"second": threading.main_thread().name}
    release.set()
    await committing
    assert strategy.put(third) is None  # no commit running: written on the commit thread again
    await strategy.commit([second, third])
    assert metadata.commits == [["first"], ["second", "third"]]
    assert objects.threads == {"second": threading.main_thread().name, "first": "metadata_0", "third": "metadata_0"}


async def test_on_the_commit_thread_a_failed_write_commits_nothing() -> None:
    class FailingWrites(RecordingObjects):
        def put_blocking(self, key: str, data: ObjectData) -> None:
            raise OSError("no space left on device")

    metadata = ThreadedMetadata()
    with pytest.raises(OSError, match="no space"):
        await PutOnCommitThread(FailingWrites(), metadata).commit([flush("a", 1)])
    assert metadata.commits == []


def test_the_default_strategy_follows_the_stores_and_the_flushes_in_flight() -> None:
    sqlite = "sqlite:///tmp/metadata.db"
    assert commit_strategy_for(None, "/tmp/objects", sqlite, 1) == ON_METADATA_THREAD
    assert commit_strategy_for(None, "file:///tmp/objects", "sqlite://:memory:", 1) == ON_METADATA_THREAD
    assert commit_strategy_for(None, "/tmp/objects", sqlite, 2) == ON_METADATA_THREAD
    assert commit_strategy_for(None, "/tmp/objects", sqlite, 4) == PUT_THEN_COMMIT
    assert commit_strategy_for(None, "s3://bucket", sqlite, 1) == PUT_THEN_COMMIT
    assert commit_strategy_for(None, "/tmp/objects", "postgresql://host/db", 1) == PUT_THEN_COMMIT
    assert commit_strategy_for(PUT_THEN_COMMIT, "/tmp/objects", sqlite, 1) == PUT_THEN_COMMIT
    assert commit_strategy_for(ON_METADATA_THREAD, "/tmp/objects", sqlite, 4) == ON_METADATA_THREAD
    with pytest.raises(ValueError, match="needs a folder object store and SQLite"):
        commit_strategy_for(ON_METADATA_THREAD, "memory://", sqlite, 1)
    with pytest.raises(ValueError, match="is not one of"):
        commit_strategy_for("sideways", "/tmp/objects", sqlite, 1)


def test_the_named_strategy_is_opened() -> None:
    objects, metadata = RecordingObjects(), ThreadedMetadata()
    assert isinstance(open_commit_strategy(ON_METADATA_THREAD, objects, metadata), PutOnCommitThread)
    assert isinstance(open_commit_strategy(PUT_THEN_COMMIT, objects, metadata), PutThenCommit)
