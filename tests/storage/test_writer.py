"""The log's writer alone: its buffer, flushes and group commit, over a commit strategy that the test drives."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from uuid import UUID, uuid4

import pytest

from streamhouse import tracing
from streamhouse.metadata.base import AppendResult
from streamhouse.protocol.records import BatchHeader
from streamhouse.storage.commit import Committed, FlushObject
from streamhouse.storage.stats import LogStats
from streamhouse.storage.writer import LogWriter, StorageError
from streamhouse.tracing import Point
from tests.storage.test_log import batch

TOPIC = uuid4()


class ScriptedCommits:
    """A commit strategy that assigns offsets per partition as a metadata store would, and records its calls.

    Puts wait for their flush's key in `released` unless `instant_puts`; `failing_puts` and `failing_commits`
    make them raise.
    """

    def __init__(self, instant_puts: bool = True) -> None:
        self.instant_puts = instant_puts
        self.released: dict[str, asyncio.Event] = {}
        self.puts: list[str] = []
        self.commits: list[list[str]] = []
        self.failing_puts = False
        self.failing_commits = False
        self.high_watermarks: dict[tuple[UUID, int], int] = {}

    def put(self, flush: FlushObject) -> Coroutine[object, object, None] | None:
        self.puts.append(flush.commit.object_key)
        return None if self.instant_puts else self._put(flush)

    async def _put(self, flush: FlushObject) -> None:
        await self.released.setdefault(flush.commit.object_key, asyncio.Event()).wait()
        if self.failing_puts:
            raise OSError("disk on fire")

    def release(self, index: int) -> None:
        self.released.setdefault(self.puts[index], asyncio.Event()).set()

    async def commit(self, flushes: Sequence[FlushObject]) -> Committed:
        await asyncio.sleep(0)
        if self.failing_commits:
            raise ConnectionError("metadata store went away")
        self.commits.append([flush.commit.object_key for flush in flushes])
        results = []
        for flush in flushes:
            chunk_results = []
            for chunk in flush.commit.chunks:
                key = (chunk.topic_id, chunk.partition)
                base = self.high_watermarks.get(key, 0)
                self.high_watermarks[key] = base + chunk.record_count
                chunk_results.append(AppendResult(base, 0))
            results.append(chunk_results)
        return Committed(results, 0.0)


def new_writer(commits: ScriptedCommits, **settings: int) -> tuple[LogWriter, list[tuple[int, int, int]]]:
    """A started writer and the (partition, base offset, last offset) of each batch it reports committed."""
    committed: list[tuple[int, int, int]] = []
    options = {"broker_id": 1, "flush_ms": 5, "flush_bytes": 1 << 20, "flushes_in_flight": 4} | settings
    writer = LogWriter(
        commits,
        LogStats(),
        lambda key, base, last, log_start, data: committed.append((key[1], base, last)),
        **options,
    )
    writer.start()
    return writer, committed


def two_records() -> tuple[bytes, BatchHeader]:
    return batch(b"a", b"b")


async def test_batches_of_several_partitions_share_one_flush_and_get_offsets_per_partition() -> None:
    commits = ScriptedCommits()
    writer, committed = new_writer(commits, flush_ms=50)
    results = await asyncio.gather(*(writer.append(TOPIC, index % 2, *two_records()) for index in range(4)))
    await writer.close()
    assert [result.base_offset for result in results] == [0, 0, 2, 2]
    assert len(commits.puts) == 1 and len(commits.commits) == 1
    assert committed == [(0, 0, 1), (1, 0, 1), (0, 2, 3), (1, 2, 3)]
    assert writer.stats.flushes == 1 and writer.stats.batches_written == 4


async def test_flushes_whose_puts_end_during_a_commit_share_the_next_and_commits_keep_flush_order() -> None:
    commits = ScriptedCommits(instant_puts=False)
    writer, _ = new_writer(commits, flush_bytes=1)  # one flush per batch
    appends = []
    for _ in range(3):
        appends.append(writer.append(TOPIC, 0, *two_records()))
        await asyncio.sleep(0.01)
    assert len(commits.puts) == 3
    commits.release(2)
    commits.release(1)
    await asyncio.sleep(0.01)
    assert commits.commits == [] and not any(append.done() for append in appends)  # the first is still put
    commits.release(0)
    results = await asyncio.gather(*appends)
    await writer.close()
    assert commits.commits == [commits.puts]  # one commit of all three, in flush order
    assert [result.base_offset for result in results] == [0, 2, 4]


async def test_a_failed_put_fails_its_flush_alone() -> None:
    commits = ScriptedCommits(instant_puts=False)
    writer, committed = new_writer(commits, flush_bytes=1)
    lost = writer.append(TOPIC, 0, *two_records())
    await asyncio.sleep(0.01)
    commits.failing_puts = True
    commits.release(0)
    with pytest.raises(StorageError, match="disk on fire"):
        await lost
    commits.failing_puts = False
    kept = writer.append(TOPIC, 0, *two_records())
    await asyncio.sleep(0.01)
    commits.release(1)
    assert (await kept).base_offset == 0
    await writer.close()
    assert committed == [(0, 0, 1)]
    assert writer.stats.flush_failures == 1


async def test_a_failed_commit_fails_its_flushes_and_the_next_commit_goes_on() -> None:
    commits = ScriptedCommits()
    writer, _ = new_writer(commits)
    commits.failing_commits = True
    with pytest.raises(StorageError, match="went away"):
        await writer.append(TOPIC, 0, *two_records())
    commits.failing_commits = False
    assert (await writer.append(TOPIC, 0, *two_records())).base_offset == 0
    await writer.close()


async def test_close_flushes_what_is_pending_and_refuses_later_appends() -> None:
    commits = ScriptedCommits()
    writer, _ = new_writer(commits, flush_ms=60_000)
    pending = writer.append(TOPIC, 0, *two_records())
    await writer.close()
    assert pending.done() and pending.result().base_offset == 0
    with pytest.raises(StorageError, match="shutting down"):
        await writer.append(TOPIC, 0, *two_records())


async def test_flush_immediately_stops_waiting_for_flush_ms() -> None:
    commits = ScriptedCommits()
    writer, _ = new_writer(commits, flush_ms=60_000)
    pending = writer.append(TOPIC, 0, *two_records())
    await asyncio.sleep(0.01)
    assert commits.puts == []
    writer.flush_immediately()
    assert (await asyncio.wait_for(pending, 5)).base_offset == 0
    await writer.close()


async def test_the_writer_reports_its_trace_points_to_the_installed_tracer() -> None:
    class Points:
        def __init__(self) -> None:
            self.seen: list[tuple[str, object]] = []

        def event(self, point: Point, subject: object) -> None:
            self.seen.append((point, subject))

    points = Points()
    tracing.install(points)
    try:
        writer, _ = new_writer(ScriptedCommits())
        append = writer.append(TOPIC, 0, *two_records())
        await append
        await writer.close()
    finally:
        tracing.install(None)
    assert [point for point, _ in points.seen] == ["appended", "flush started", "flush answered"]
    assert points.seen[0][1] is append
    assert tracing.TRACE.event("appended", append) is None  # ignored again
    assert len(points.seen) == 3
