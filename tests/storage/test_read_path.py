"""The log's read path below the tail cache: read-ahead for consumers catching up, and the disk cache.

Over a real SQLite store and memory objects that count their gets; each log is "cold" (a new broker:
no tail, empty memory cache), so that every read goes through the index.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import pytest

from streamhouse.metadata.sqlite import SqliteMetadataStore
from streamhouse.protocol.records import iter_batches, iter_records
from streamhouse.storage.diskcache import DiskRangeCache
from streamhouse.storage.log import PartitionLog
from streamhouse.storage.objects.memory import MemoryObjectStore
from tests.storage.test_log import batch

BATCHES = 10


class CountingObjects(MemoryObjectStore):
    """Memory objects that count gets, optionally slowed down."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.delay = 0.0

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        self.gets += 1
        await asyncio.sleep(self.delay)
        return await super().get(key, start, end)


@pytest.fixture
async def metadata() -> AsyncIterator[SqliteMetadataStore]:
    store = SqliteMetadataStore(":memory:")
    await store.start()
    yield store
    await store.close()


def new_log(
    objects: MemoryObjectStore, metadata: SqliteMetadataStore, **options: int | DiskRangeCache | None
) -> PartitionLog:
    settings: dict[str, int | DiskRangeCache | None] = {
        "broker_id": 1,
        "flush_ms": 1,
        "flush_bytes": 1,  # one object per append
        "tail_cache_bytes": 1 << 20,
        "object_cache_bytes": 1 << 20,
    } | options
    return PartitionLog(objects, metadata, **settings)  # type: ignore[arg-type]


async def written(objects: MemoryObjectStore, metadata: SqliteMetadataStore) -> tuple[UUID, int]:
    """BATCHES one-record batches in as many objects; returns the topic id and one batch's size."""
    topic_id = (await metadata.topics.create_topic("t", 1, {})).topic_id
    log = new_log(objects, metadata)
    log.start()
    for index in range(BATCHES):
        await log.append(topic_id, 0, *batch(b"value-%02d" % index))
    await log.close()
    size = len(batch(b"value-00")[0])
    return topic_id, size


def values(chunks: list[bytes]) -> list[tuple[int, bytes | None]]:
    return [
        (record.offset, record.value)
        for header, view in iter_batches(b"".join(chunks))
        for record in iter_records(header, view)
    ]


async def settle(log: PartitionLog) -> None:
    """Wait until no read-ahead runs."""
    for _ in range(500):
        if not log.reader.read_aheads:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("read-ahead did not finish")


async def test_consecutive_reads_load_what_follows_ahead_within_the_bound(metadata: SqliteMetadataStore) -> None:
    objects = CountingObjects()
    topic_id, size = await written(objects, metadata)
    log = new_log(objects, metadata, read_ahead_bytes=3 * size)
    assert values(await log.read(topic_id, 0, 0, 1)) == [(0, b"value-00")]
    await settle(log)
    assert objects.gets == 1  # one read alone is no walk: nothing read ahead
    assert values(await log.read(topic_id, 0, 1, 1)) == [(1, b"value-01")]
    await settle(log)
    # The second read in a row loaded the next three batches (the byte bound) in the background.
    assert objects.gets == 2 + 3
    for offset in (2, 3, 4):
        assert values(await log.read(topic_id, 0, offset, 1)) == [(offset, b"value-%02d" % offset)]
        await settle(log)
        # Served from memory; the window stays three batches ahead of the reader: one more get each.
        assert objects.gets == 5 + offset - 1
    reads = [values(await log.read(topic_id, 0, offset, 1)) for offset in range(5, BATCHES)]
    await settle(log)
    assert reads == [[(offset, b"value-%02d" % offset)] for offset in range(5, BATCHES)]
    assert objects.gets == BATCHES  # every range was got exactly once, by a fetch or ahead of it
    await log.close()


async def test_reads_that_jump_around_load_nothing_ahead(metadata: SqliteMetadataStore) -> None:
    objects = CountingObjects()
    topic_id, _ = await written(objects, metadata)
    log = new_log(objects, metadata, read_ahead_bytes=1 << 20)
    for offset in (7, 2, 5, 0):
        assert values(await log.read(topic_id, 0, offset, 1)) == [(offset, b"value-%02d" % offset)]
    await settle(log)
    assert objects.gets == 4
    await log.close()


async def test_a_fetch_waits_for_the_read_ahead_of_its_range_instead_of_a_second_get(
    metadata: SqliteMetadataStore,
) -> None:
    objects = CountingObjects()
    topic_id, size = await written(objects, metadata)
    log = new_log(objects, metadata, read_ahead_bytes=BATCHES * size)
    await log.read(topic_id, 0, 0, 1)
    objects.delay = 0.2
    await log.read(topic_id, 0, 1, 1)  # starts a read-ahead of 2..9, each get taking 0.2 s
    await asyncio.sleep(0.05)
    assert values(await log.read(topic_id, 0, 2, 1 << 20))[0] == (2, b"value-02")
    await settle(log)
    assert objects.gets == BATCHES
    await log.close()


async def test_the_disk_cache_serves_a_restarted_broker_without_gets(
    metadata: SqliteMetadataStore, tmp_path: Path
) -> None:
    objects = CountingObjects()
    topic_id, size = await written(objects, metadata)
    first = new_log(objects, metadata, disk_cache=DiskRangeCache(tmp_path / "cache", 1 << 20))
    expected = [(offset, b"value-%02d" % offset) for offset in range(BATCHES)]
    assert values(await first.read(topic_id, 0, 0, 1 << 20)) == expected
    assert objects.gets == BATCHES
    await first.close()

    (tmp_path / "cache" / "cut-short.range.partial").write_bytes(b"x")  # a write a crash interrupted
    restarted_cache = DiskRangeCache(tmp_path / "cache", 1 << 20)
    assert restarted_cache.size == BATCHES * size
    assert not list((tmp_path / "cache").glob("*.partial"))
    restarted = new_log(objects, metadata, disk_cache=restarted_cache)
    assert values(await restarted.read(topic_id, 0, 0, 1 << 20)) == expected
    assert objects.gets == BATCHES  # no new get: every range came from the disk
    assert restarted_cache.hits == BATCHES
    await restarted.close()


async def test_the_disk_cache_keeps_within_its_bound_evicting_the_least_recently_used(
    metadata: SqliteMetadataStore, tmp_path: Path
) -> None:
    objects = CountingObjects()
    topic_id, size = await written(objects, metadata)
    cache = DiskRangeCache(tmp_path, 4 * size)
    log = new_log(objects, metadata, disk_cache=cache, object_cache_bytes=1)  # no memory cache to hide the disk
    for offset in range(BATCHES):
        await log.read(topic_id, 0, offset, 1)
    assert cache.size == 4 * size
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) == 4 * size
    gets = objects.gets
    await log.read(topic_id, 0, BATCHES - 1, 1)  # among the four newest: from disk
    assert objects.gets == gets
    await log.read(topic_id, 0, 0, 1)  # evicted: from the object store again
    assert objects.gets == gets + 1
    await log.close()
