"""The log's reader alone: the tail cache, index look-ups and their cache, object ranges; over memory objects
and an index the test writes."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from streamhouse.metadata.base import IndexEntry, PartitionState
from streamhouse.storage.caches import PartitionKey
from streamhouse.storage.objects.base import ObjectNotFoundError
from streamhouse.storage.objects.memory import MemoryObjectStore
from streamhouse.storage.reader import LogReader, patch_offsets
from streamhouse.storage.stats import LogStats
from tests.storage.test_log import batch, offsets_of

TOPIC = uuid4()
KEY = (TOPIC, 0)
ONE, _ = batch(b"one record")  # every batch here: one record, this size


class Index:
    """Index entries of partition 0, one per offset, as a metadata store would answer; counts look-ups."""

    def __init__(self, entries: list[IndexEntry]) -> None:
        self.entries = entries
        self.lookups = 0

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        self.lookups += 1
        return [entry for entry in self.entries if entry.last_offset >= from_offset][:limit]


async def stored(objects: MemoryObjectStore, count: int, key: str = "flush/1") -> Index:
    """`count` one-record batches in one object, and their index entries."""
    await objects.put(key, ONE * count)
    return Index([IndexEntry(n, n, key, n * len(ONE), len(ONE), 0) for n in range(count)])


def new_reader(
    objects: MemoryObjectStore, index: Index, states: dict[PartitionKey, PartitionState] | None = None, **options: int
) -> LogReader:
    settings = {"tail_cache_bytes": 1 << 20, "object_cache_bytes": 1 << 20} | options
    return LogReader(objects, index, states if states is not None else {}, LogStats(), **settings)


async def test_reads_go_through_the_index_once_then_its_cache() -> None:
    objects = MemoryObjectStore()
    index = await stored(objects, 4)
    reader = new_reader(objects, index, {KEY: PartitionState(0, 4)})
    assert offsets_of(await reader.read(TOPIC, 0, 0, 1 << 20)) == [0, 1, 2, 3]
    assert offsets_of(await reader.read(TOPIC, 0, 2, 1 << 20)) == [2, 3]
    assert index.lookups == 1  # the second read found its entries cached
    assert reader.stats.cache_misses["tail"] == 2


async def test_a_read_stops_at_the_known_high_watermark_without_a_look_up() -> None:
    objects = MemoryObjectStore()
    index = await stored(objects, 2)
    reader = new_reader(objects, index, {KEY: PartitionState(0, 2)})
    assert await reader.read(TOPIC, 0, 2, 1 << 20) == []
    assert index.lookups == 0


async def test_the_tail_serves_what_it_holds_and_the_index_what_is_older() -> None:
    objects = MemoryObjectStore()
    index = await stored(objects, 4)
    reader = new_reader(objects, index, {KEY: PartitionState(0, 4)})
    for offset in (2, 3):  # committed by this broker: in the tail
        reader.add_tail(KEY, offset, offset, patch_offsets(ONE, offset))
    assert offsets_of(await reader.read(TOPIC, 0, 2, 1 << 20)) == [2, 3]
    assert index.lookups == 0
    assert offsets_of(await reader.read(TOPIC, 0, 0, 1 << 20)) == [0, 1, 2, 3]
    assert reader.stats.cache_hits["tail"] == 1


async def test_the_tail_keeps_its_newest_batches_within_its_bound_and_only_contiguous_ones() -> None:
    reader = new_reader(MemoryObjectStore(), Index([]), tail_cache_bytes=2 * len(ONE))
    for offset in range(3):
        reader.add_tail(KEY, offset, offset, patch_offsets(ONE, offset))
    assert reader.cache_sizes()["tail"] == 2 * len(ONE)
    assert offsets_of(await reader.read(TOPIC, 0, 1, 1 << 20)) == [1, 2]
    reader.add_tail(KEY, 5, 5, patch_offsets(ONE, 5))  # another broker appended 3 and 4
    assert reader.cache_sizes()["tail"] == len(ONE)
    tail = reader.tails.get(KEY)
    assert tail is not None and list(tail.bases) == [5]


async def test_an_entry_whose_object_is_gone_is_looked_up_again() -> None:
    objects = MemoryObjectStore()
    index = await stored(objects, 2, key="flush/old")
    reader = new_reader(objects, index)
    await reader.read(TOPIC, 0, 0, 1)  # entries cached
    await objects.put("segment", ONE * 2)  # compaction: one segment, the flush object collected
    await objects.delete(["flush/old"])
    index.entries = [IndexEntry(0, 1, "segment", 0, 2 * len(ONE), 0)]
    assert offsets_of(await reader.read(TOPIC, 0, 1, 1 << 20)) == [0, 1]
    index.entries = [IndexEntry(0, 1, "gone", 0, 2 * len(ONE), 0)]
    reader.drop_index(KEY)
    with pytest.raises(ObjectNotFoundError):
        await reader.read(TOPIC, 0, 0, 1 << 20)


async def test_concurrent_reads_of_a_range_share_one_get() -> None:
    class SlowObjects(MemoryObjectStore):
        gets = 0

        async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
            self.gets += 1
            await asyncio.sleep(0.05)
            return await super().get(key, start, end)

    objects = SlowObjects()
    index = await stored(objects, 1)
    reader = new_reader(objects, index)
    reads = await asyncio.gather(*(reader.read(TOPIC, 0, 0, 1 << 20) for _ in range(3)))
    assert [offsets_of(read) for read in reads] == [[0]] * 3
    assert objects.gets == 1


async def test_a_forgotten_topic_leaves_nothing_cached() -> None:
    objects = MemoryObjectStore()
    index = await stored(objects, 2)
    reader = new_reader(objects, index)
    reader.add_tail(KEY, 2, 2, patch_offsets(ONE, 2))
    await reader.read(TOPIC, 0, 0, 1)
    reader.forget_topic(TOPIC)
    assert reader.cache_sizes()["tail"] == 0
    await reader.read(TOPIC, 0, 0, 1)
    assert index.lookups == 2
