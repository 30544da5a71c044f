"""The partition log's write and read paths over a real SQLite store and memory objects (or a real folder)."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from streamhouse.metadata.base import AppendResult, FlushCommit, MetadataStore
from streamhouse.metadata.sqlite import SqliteMetadataStore
from streamhouse.metadata.sqlite import log as sqlite_log
from streamhouse.metadata.sqlite.log import SqliteLog
from streamhouse.protocol.records import BatchHeader, Record, build_batch, iter_batches, iter_records
from streamhouse.storage.commit import PUT_WITH_COMMIT_MAX_BYTES, PutOnCommitThread
from streamhouse.storage.log import PartitionLog, StorageError
from streamhouse.storage.maintenance import FLUSH_PREFIX
from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy
from streamhouse.storage.objects.base import ObjectData, ObjectStore, ObjectStoreUnavailableError
from streamhouse.storage.objects.memory import MemoryObjectStore


class FailingObjects(MemoryObjectStore):
    """Memory objects whose puts fail while `failing` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.puts = 0

    async def put(self, key: str, data: ObjectData) -> None:
        self.puts += 1
        if self.failing:
            raise OSError("disk on fire")
        await super().put(key, data)


class CountingMetadata(SqliteMetadataStore):
    """SQLite metadata that can be made to fail commits, and counts them."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.failing = False
        self.commits = 0
        self.log = CountingLog(self)


class CountingLog(SqliteLog):
    """CountingMetadata's log role."""

    def __init__(self, store: CountingMetadata) -> None:
        super().__init__(store.database)
        self.store = store

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        self.store.commits += 1
        if self.store.failing:
            raise ConnectionError("metadata store went away")
        return await super().commit_flushes(flushes)


@pytest.fixture
async def stores() -> AsyncIterator[tuple[FailingObjects, CountingMetadata]]:
    objects, metadata = FailingObjects(), CountingMetadata()
    await metadata.start()
    yield objects, metadata
    await metadata.close()


def make_log(objects: ObjectStore, metadata: MetadataStore, **overrides: int) -> PartitionLog:
    settings = {
        "broker_id": 1,
        "flush_ms": 5,
        "flush_bytes": 1 << 20,
        "tail_cache_bytes": 1 << 20,
        "object_cache_bytes": 1 << 20,
    } | overrides
    return PartitionLog(objects, metadata, **settings)


def batch(*values: bytes) -> tuple[bytes, BatchHeader]:
    data = build_batch([Record(key=None, value=value) for value in values])
    header, _ = next(iter_batches(data))
    return data, header


async def topic(metadata: MetadataStore, partitions: int = 2) -> UUID:
    return (await metadata.topics.create_topic("t", partitions, {})).topic_id


async def test_batches_of_many_partitions_go_into_one_object_and_one_commit(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata, flush_ms=50)
    log.start()
    futures = [log.append(topic_id, index % 2, *batch(b"a%d" % index, b"b")) for index in range(10)]
    results = await asyncio.gather(*futures)
    await log.close()
    assert objects.puts == 1 and metadata.commits == 1
    assert [result.base_offset for result in results] == [0, 0, 2, 2, 4, 4, 6, 6, 8, 8]
    assert len(await objects.list("flush/")) == 1


async def test_a_full_buffer_flushes_before_flush_ms(stores: tuple[FailingObjects, CountingMetadata]) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata, flush_ms=60_000, flush_bytes=1)
    log.start()
    result = await asyncio.wait_for(log.append(topic_id, 0, *batch(b"x")), 5)
    await log.close()
    assert result.base_offset == 0


async def test_a_burst_is_written_as_objects_of_at_most_flush_bytes(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    small, header = batch(b"x" * 100)
    large, large_header = batch(b"y" * 1000)
    log = make_log(objects, metadata, flush_ms=60_000, flush_bytes=2 * len(small))
    appends = [log.append(topic_id, 0, small, header) for _ in range(5)]  # pending before the loop runs
    appends.append(log.append(topic_id, 0, large, large_header))
    appends.append(log.append(topic_id, 0, small, header))
    log.start()
    results = await asyncio.wait_for(asyncio.gather(*appends), 5)
    await log.close()
    assert [result.base_offset for result in results] == list(range(7))
    sizes = [len(await objects.get(key)) for key in await objects.list("flush/")]
    # Two batches, two, then one (the next is too large to join it), the large one alone, the last small.
    assert sorted(sizes) == sorted([2 * len(small), 2 * len(small), len(small), len(large), len(small)])
    assert objects.puts == 5


@pytest.mark.parametrize("failing", ["objects", "metadata"])
async def test_nothing_is_acknowledged_when_a_flush_fails(
    stores: tuple[FailingObjects, CountingMetadata], failing: str
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata)
    log.start()
    (objects if failing == "objects" else metadata).failing = True
    with pytest.raises(StorageError):
        await log.append(topic_id, 0, *batch(b"lost"))
    objects.failing = metadata.failing = False
    assert (await log.state(topic_id, 0)).high_watermark == 0
    later = await log.append(topic_id, 0, *batch(b"kept"))
    await log.close()
    assert later.base_offset == 0
    assert await metadata.log.find_index(topic_id, 0, 0, 10) != []


@pytest.mark.parametrize("failing", ["put", "commit"])
async def test_on_a_folder_and_sqlite_a_flush_is_put_and_committed_in_one_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The embedded default: each flush's object put and commit are one call on SQLite's thread.

    Only an object above PUT_WITH_COMMIT_MAX_BYTES is put apart, before its commit; a failed put
    (nothing committed) or a failed commit fails that flush's batches with StorageError, and the next
    flush commits as usual.
    """
    objects = FilesystemObjectStore(tmp_path / "objects", FsyncPolicy.ALWAYS, FLUSH_PREFIX)
    metadata = SqliteMetadataStore(str(tmp_path / "metadata.db"))
    await metadata.start()
    calls = {"commit_flushes": 0, "commit_flushes_after": 0}

    def counting(name: str) -> Any:
        call = getattr(metadata.log, name)

        def counted(*args: Any) -> Any:
            calls[name] += 1
            return call(*args)

        return counted

    for name in calls:
        monkeypatch.setattr(metadata.log, name, counting(name))
    topic_id = await topic(metadata)
    log = PartitionLog(
        objects,
        metadata,
        broker_id=1,
        flush_ms=5,
        flush_bytes=1 << 20,
        tail_cache_bytes=1 << 20,
        object_cache_bytes=1 << 20,
        flushes_in_flight=1,  # as the folder's write tuning has it
        commits=PutOnCommitThread(objects, metadata.log),
    )
    log.start()
    first = await log.append(topic_id, 0, *batch(b"first"))
    with monkeypatch.context() as broken:
        if failing == "put":

            def no_space(key: str, data: ObjectData) -> None:
                raise ObjectStoreUnavailableError(f"put {key!r} failed: no space left on device")

            broken.setattr(objects, "put_blocking", no_space)
        else:

            def disk_error(*args: Any) -> Any:
                raise sqlite3.OperationalError("disk I/O error")

            broken.setattr(sqlite_log, "_commit_flushes", disk_error)
        with pytest.raises(StorageError):
            await log.append(topic_id, 0, *batch(b"lost"))
    assert (await log.state(topic_id, 0)).high_watermark == 1
    later = await log.append(topic_id, 0, *batch(b"kept"))
    large_value = b"L" * PUT_WITH_COMMIT_MAX_BYTES
    large = await log.append(topic_id, 0, *batch(large_value))
    await log.close()
    cold = make_log(objects, metadata)  # a new broker: everything from the index and the folder
    read = b"".join(await cold.read(topic_id, 0, 0, 1 << 20))
    await metadata.close()
    assert (first.base_offset, later.base_offset, large.base_offset) == (0, 1, 2)
    assert [(r.offset, r.value) for h, v in iter_batches(read) for r in iter_records(h, v)] == [
        (0, b"first"),
        (1, b"kept"),
        (2, large_value),
    ]
    assert calls == {"commit_flushes": 0, "commit_flushes_after": 4}


async def test_with_several_flushes_in_flight_a_folder_and_sqlite_commit_apart(tmp_path: Path) -> None:
    """Puts that overlap keep the group commit: one put and commit call per flush would not stay in order."""
    objects = FilesystemObjectStore(tmp_path / "objects", FsyncPolicy.ALWAYS, FLUSH_PREFIX)
    metadata = CountingMetadata()
    await metadata.start()
    topic_id = await topic(metadata)
    log = make_log(objects, metadata, flush_bytes=1, flushes_in_flight=4)
    log.start()
    results = await asyncio.gather(*(log.append(topic_id, 0, *batch(b"%d" % n)) for n in range(8)))
    await log.close()
    await metadata.close()
    assert [result.base_offset for result in results] == list(range(8))
    assert 1 <= metadata.commits <= 8


async def test_two_flushes_in_flight_put_the_second_object_ahead_while_the_first_commits(tmp_path: Path) -> None:
    """A flush started during a commit is put ahead; commits stay in append order, and all reads back cold."""

    class CountedPuts(FilesystemObjectStore):
        put_ahead = 0

        async def put(self, key: str, data: ObjectData) -> None:
            await super().put(key, data)
            self.put_ahead += 1

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(10_000):
            if condition():
                return
            await asyncio.sleep(0.001)
        raise AssertionError("the condition never held")

    objects = CountedPuts(tmp_path / "objects", FsyncPolicy.ALWAYS, FLUSH_PREFIX)
    metadata = SqliteMetadataStore(str(tmp_path / "metadata.db"))
    await metadata.start()
    topic_id = await topic(metadata)
    commits = PutOnCommitThread(objects, metadata.log)
    log = make_log(objects, metadata, flush_ms=0, flushes_in_flight=2, commits=commits)  # type: ignore[arg-type]
    log.start()
    holding, release = threading.Event(), threading.Event()

    def hold(_: sqlite3.Connection) -> None:
        holding.set()
        release.wait(10)

    held = asyncio.create_task(metadata.database.run(hold))  # SQLite's thread busy, as with a long COMMIT
    await until(holding.is_set)
    first = asyncio.ensure_future(log.append(topic_id, 0, *batch(b"first")))
    await until(lambda: commits._commits_running == 1)  # its commit waits for the thread
    second = asyncio.ensure_future(log.append(topic_id, 0, *batch(b"second")))
    await until(lambda: objects.put_ahead == 1)  # written and synced while the first commit waits
    assert not first.done() and not second.done()  # nothing acknowledged before its commit
    release.set()
    await held
    results = [await first, await second, await log.append(topic_id, 0, *batch(b"third"))]
    assert objects.put_ahead == 1  # the third, on an idle writer: written on SQLite's thread in its commit
    await log.close()
    cold = make_log(objects, metadata)  # a new broker: everything from the index and the folder
    read = b"".join(await cold.read(topic_id, 0, 0, 1 << 20))
    await metadata.close()
    assert [result.base_offset for result in results] == [0, 1, 2]
    assert [(r.offset, r.value) for h, v in iter_batches(read) for r in iter_records(h, v)] == [
        (0, b"first"),
        (1, b"second"),
        (2, b"third"),
    ]


async def test_reads_patch_offsets_from_the_tail_and_from_objects(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata)
    log.start()
    for index in range(5):
        await log.append(topic_id, 0, *batch(b"v%d-0" % index, b"v%d-1" % index))
    tail_read = await log.read(topic_id, 0, 4, 1 << 20)
    await log.close()
    cold = make_log(objects, metadata)  # a new broker: empty caches, everything from the index
    object_read = await cold.read(topic_id, 0, 4, 1 << 20)
    for chunks in (tail_read, object_read):
        records = [
            (record.offset, record.value)
            for header, view in iter_batches(b"".join(chunks))
            for record in iter_records(header, view)
        ]
        # The batch holding offset 4 starts at 4; the client skips what it did not ask for.
        assert records == [(4, b"v2-0"), (5, b"v2-1"), (6, b"v3-0"), (7, b"v3-1"), (8, b"v4-0"), (9, b"v4-1")]


def offsets_of(chunks: list[bytes]) -> list[int]:
    joined = b"".join(chunks)
    return [record.offset for header, view in iter_batches(joined) for record in iter_records(header, view)]


async def test_a_read_never_repeats_a_batch_nor_returns_one_wholly_below_the_offset(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    data, _ = batch(b"0-a", b"0-b")  # every batch below has this size
    # A tail that holds only the newest batch: reads from the start take the index, then the tail.
    log = make_log(objects, metadata, tail_cache_bytes=len(data))
    log.start()
    for index in range(4):
        await log.append(topic_id, 0, *batch(b"%d-a" % index, b"%d-b" % index))
    assert offsets_of(await log.read(topic_id, 0, 0, 1 << 20)) == list(range(8))
    assert offsets_of(await log.read(topic_id, 0, 7, 1 << 20)) == [6, 7]
    assert await log.read(topic_id, 0, 8, 1 << 20) == []  # at the high watermark: nothing yet
    await log.close()


async def test_max_bytes_keeps_whole_batches_and_the_first_one_always(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata)
    log.start()
    sizes = []
    for index in range(3):
        data, header = batch(bytes(100 + index))
        sizes.append(len(data))
        await log.append(topic_id, 0, data, header)
    await log.close()
    assert [len(chunk) for chunk in await log.read(topic_id, 0, 0, 1)] == sizes[:1]
    assert await log.read(topic_id, 0, 0, 1, first_whole=False) == []
    assert [len(chunk) for chunk in await log.read(topic_id, 0, 0, sizes[0] + sizes[1])] == sizes[:2]


async def test_long_poll_wakes_on_a_commit(stores: tuple[FailingObjects, CountingMetadata]) -> None:
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata)
    log.start()
    waiter = asyncio.create_task(log.wait_for_append([(topic_id, 1)], 30))
    await asyncio.sleep(0)
    await log.append(topic_id, 1, *batch(b"wake"))
    done, _ = await asyncio.wait([waiter], timeout=5)  # the waiter's own timeout is 30 s
    await log.close()
    assert waiter in done


class SlowFirstPut(MemoryObjectStore):
    """The first put waits for `release`, later ones are immediate: puts finish out of order."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[str] = []
        self.first: str | None = None
        self.release = asyncio.Event()

    async def put(self, key: str, data: ObjectData) -> None:
        if self.first is None:
            self.first = key
            await self.release.wait()
        await super().put(key, data)
        self.finished.append(key)


async def log_with_a_slow_first_put(metadata: MetadataStore) -> tuple[SlowFirstPut, PartitionLog, UUID]:
    """A started log over SlowFirstPut objects: a flush per batch, four in flight, puts ending out of order."""
    objects = SlowFirstPut()
    topic_id = await topic(metadata)
    log = make_log(objects, metadata, flush_bytes=1, flushes_in_flight=4)
    log.start()
    return objects, log, topic_id


async def test_flushes_put_concurrently_but_commit_in_flush_order_in_one_group_commit(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    _, metadata = stores
    objects, log, topic_id = await log_with_a_slow_first_put(metadata)
    first = log.append(topic_id, 0, *batch(b"first"))
    await asyncio.sleep(0.05)  # the first flush is under way
    later = [log.append(topic_id, 0, *batch(b"second"))]
    await asyncio.sleep(0.05)  # so that the third batch makes a flush of its own
    later.append(log.append(topic_id, 1, *batch(b"third")))
    await asyncio.sleep(0.05)
    assert len(objects.finished) == 2 and not any(append.done() for append in later)  # stored, waiting for the first
    objects.release.set()
    results = await asyncio.gather(first, *later)
    await log.close()
    assert objects.finished[-1] == objects.first  # the later objects were stored before the first
    assert [(result.base_offset, result.error_code) for result in results] == [(0, 0), (1, 0), (0, 0)]
    assert metadata.commits == 1  # the flushes that waited shared the first one's commit


async def test_appends_are_answered_in_the_order_they_were_made(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    # The produce handler waits on a request's last append alone (broker.handlers.produce._answered).
    _, metadata = stores
    objects, log, topic_id = await log_with_a_slow_first_put(metadata)
    answered: list[int] = []
    appends = []
    for index in range(6):
        append = log.append(topic_id, index % 2, *batch(b"%d" % index))
        append.add_done_callback(lambda _, index=index: answered.append(index))
        appends.append(append)
    await asyncio.sleep(0.05)
    assert len(objects.finished) == 3 and not answered  # three later objects stored while the first waits
    objects.release.set()
    await asyncio.gather(*appends)
    await log.close()
    assert answered == list(range(6))


class ShortAnswerMetadata(CountingMetadata):
    """Commits, then answers with one result too few for its first commit: a bug in the store."""

    def __init__(self) -> None:
        super().__init__()
        self.log = ShortAnswerLog(self)


class ShortAnswerLog(CountingLog):
    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        results = await super().commit_flushes(flushes)
        return [results[0][:-1], *results[1:]] if self.store.commits == 1 else results


async def test_a_commit_that_breaks_fails_its_batches_and_later_flushes_still_commit() -> None:
    metadata = ShortAnswerMetadata()
    await metadata.start()
    try:
        topic_id = await topic(metadata)
        log = make_log(FailingObjects(), metadata, flush_ms=0)
        log.start()
        with pytest.raises(StorageError):
            await asyncio.wait_for(log.append(topic_id, 0, *batch(b"answered wrongly")), 5)
        later = await asyncio.wait_for(log.append(topic_id, 0, *batch(b"kept")), 5)
        await log.close()
    finally:
        await metadata.close()
    assert later.base_offset == 1  # the first batch was committed: only its answer was lost


async def _tracked_growth(objects: FailingObjects, metadata: CountingMetadata, tail_cache_bytes: int) -> int:
    """Objects the garbage collector tracks after 2,000 batches appended, above what it tracked before them."""
    topic_id = (await metadata.topics.create_topic(f"t{tail_cache_bytes}", 1, {})).topic_id
    log = make_log(objects, metadata, flush_ms=1, tail_cache_bytes=tail_cache_bytes)
    log.start()
    await log.append(topic_id, 0, *batch(b"first"))
    gc.collect()
    before = len(gc.get_objects())
    await asyncio.gather(*(log.append(topic_id, 0, *batch(b"%d" % index)) for index in range(2000)))
    await log.append(topic_id, 0, *batch(b"last"))  # a later commit lets the previous group go
    gc.collect()
    growth = len(gc.get_objects()) - before
    if tail_cache_bytes > 1:
        assert len(await log.read(topic_id, 0, 0, 1 << 30)) == 2002  # all of them in the tail cache
    await log.close()
    return growth


async def test_the_tail_cache_adds_no_object_for_the_garbage_collector_per_batch(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    """A full tail cache holds hundreds of thousands of batches: an object each made every gen2 pass walk them."""
    objects, metadata = stores
    without_tail = await _tracked_growth(objects, metadata, tail_cache_bytes=1)
    with_tail = await _tracked_growth(objects, metadata, tail_cache_bytes=1 << 30)
    assert with_tail - without_tail < 100
