"""The read path: committed batches from the tail cache, else through the index and object ranges.

Recent batches come from a tail cache already patched with their offsets; older ones from the
batch index (its entries cached per partition) and object ranges (an LRU cache in memory, then an
optional disk cache, in front of the object store), patched on the way out. A read that starts
where the partition's previous read ended (a consumer catching up) starts a bounded read-ahead of
the next ranges into the caches in the background.

An index entry whose object is gone (deleted from the store by hand, lost by it) fails its reads
with ObjectNotFoundError; the partition is kept in `missing` (logged once), for readiness reports,
until a read of its offsets up to the entry's last succeeds (retention or a restore).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Protocol
from uuid import UUID

from streamhouse.metadata.base import IndexEntry, PartitionState
from streamhouse.protocol.records import with_offsets
from streamhouse.storage.caches import ByteBoundedLru, IndexCache, PartitionKey, TailCache
from streamhouse.storage.diskcache import DiskRangeCache, RangeKey
from streamhouse.storage.objects.base import ObjectNotFoundError, ObjectStore
from streamhouse.storage.stats import LogStats

log = logging.getLogger(__name__)

MAX_STALE_LOOKUPS = 3
INDEX_LOOKUP_ENTRIES = 16  # entries asked of the metadata store per look-up
INDEX_CACHE_ENTRIES = 4096  # cached index entries per partition (about 100 bytes each)
READ_AHEAD_ENTRIES = 64  # index rows looked up per read-ahead, before the byte bound applies
READ_AHEAD_GETS = 8  # read-ahead gets in flight over all partitions, so that fetches' own gets go first
LEADER_EPOCH = 0  # one epoch forever: any broker may append, the metadata store orders writes


def patch_offsets(data: bytes | memoryview, base_offset: int) -> bytes:
    """A copy of stored batches with base offsets assigned from `base_offset` on and our leader epoch."""
    return with_offsets(data, base_offset, LEADER_EPOCH)


def _range_key(entry: IndexEntry) -> RangeKey:
    return (entry.object_key, entry.position, entry.length)


class IndexLookup(Protocol):
    """The metadata store's batch index, as the read path looks it up."""

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]: ...


class LogReader:
    """Reads of every partition, through the caches.

    `states` are the partitions' states as the broker knows them (kept by the PartitionWatcher):
    a read stops at a known high watermark without asking the index.
    """

    def __init__(
        self,
        objects: ObjectStore,
        index: IndexLookup,
        states: Mapping[PartitionKey, PartitionState],
        stats: LogStats,
        *,
        tail_cache_bytes: int,
        object_cache_bytes: int,
        read_ahead_bytes: int = 0,
        disk_cache: DiskRangeCache | None = None,
    ) -> None:
        self.objects = objects
        self.index = index
        self.states = states
        self.stats = stats
        self.tails = TailCache(tail_cache_bytes)
        self._ranges = ByteBoundedLru(object_cache_bytes)
        self._index_cache = IndexCache(INDEX_CACHE_ENTRIES)
        self._disk_cache = disk_cache
        self._gets: dict[RangeKey, asyncio.Task[bytes]] = {}  # ranges being loaded, shared by their readers
        self.read_ahead_bytes = read_ahead_bytes
        self._read_ends: dict[PartitionKey, int] = {}  # where each partition's last read from objects ended
        self.read_aheads: dict[PartitionKey, asyncio.Task[None]] = {}  # by partition, while they run
        self._read_ahead_slots = asyncio.Semaphore(READ_AHEAD_GETS)
        self.missing: dict[PartitionKey, IndexEntry] = {}  # an entry whose object is gone, per partition

    async def close(self) -> None:
        """Stop the read-aheads."""
        read_aheads = list(self.read_aheads.values())
        for task in read_aheads:
            task.cancel()
        await asyncio.gather(*read_aheads, return_exceptions=True)

    # -- what the watcher and the writer tell the caches ------------------

    def add_tail(self, key: PartitionKey, base_offset: int, last_offset: int, data: bytes) -> None:
        """A batch just committed, patched with its offsets."""
        self.tails.add(key, base_offset, last_offset, data)

    def drop_index(self, key: PartitionKey) -> None:
        """The partition's index entries were swapped (compaction): cached ones name objects soon collected."""
        self._index_cache.drop(key)

    def drop_tail(self, key: PartitionKey) -> None:
        """The log cleaner removed records of the partition: its cached batches may hold some."""
        self.tails.drop(key)

    def trim_index(self, key: PartitionKey, log_start_offset: int) -> None:
        self._index_cache.trim(key, log_start_offset)

    def clear_index(self) -> None:
        self._index_cache.clear()

    def forget_topic(self, topic_id: UUID) -> None:
        """Drop what is cached of a deleted topic."""
        self.tails.forget_topic(topic_id)
        self._index_cache.forget_topic(topic_id)
        for key in [key for key in self.missing if key[0] == topic_id]:
            del self.missing[key]
        for key in [key for key in self._read_ends if key[0] == topic_id]:
            del self._read_ends[key]

    # -- reads --------------------------------------------------------------

    async def read(
        self, topic_id: UUID, partition: int, offset: int, max_bytes: int, first_whole: bool = True
    ) -> list[bytes]:
        """Batches from the one holding `offset` on, patched, up to max_bytes.

        With first_whole, the first batch comes even when it alone exceeds max_bytes.
        """
        key = (topic_id, partition)
        tail = self.tails.get(key)
        if tail is not None and tail.holds(offset):
            self.stats.cache_hits["tail"] += 1
        else:
            self.stats.cache_misses["tail"] += 1
        chunks: list[bytes] = []
        size = 0
        next_offset = offset
        stale_lookups = 0
        known = self.states.get(key)
        sequential = self._read_ends.get(key) == offset
        while size < max_bytes:
            if known is not None and next_offset >= known.high_watermark:
                break  # nothing more is committed, as far as this broker knows: no look-up needed
            if tail is not None and tail.holds(next_offset):
                # Another broker may have appended after the tail: read on from the index then.
                from_tail, next_offset = tail.read(next_offset, max_bytes - size, first_whole and not chunks)
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
                    self._index_cache.drop(key)
                    stale_lookups += 1
                    if stale_lookups > MAX_STALE_LOOKUPS:
                        self._object_missing(key, entry)
                        raise
                    break
                if (chunks or not first_whole) and size + len(data) > max_bytes:
                    return self._read_done(key, next_offset, sequential, chunks)
                chunks.append(data)
                size += len(data)
                next_offset = entry.last_offset + 1
                if size >= max_bytes:
                    return self._read_done(key, next_offset, sequential, chunks)
                if tail is not None and tail.holds(next_offset):
                    break  # on from the tail cache
        return self._read_done(key, next_offset, sequential, chunks)

    def _object_missing(self, key: PartitionKey, entry: IndexEntry) -> None:
        known = self.missing.get(key)
        if known is None or known.object_key != entry.object_key:
            log.error(
                "partition %s/%d: offsets %d-%d are indexed in object %s, which the object store does not have",
                *key,
                entry.base_offset,
                entry.last_offset,
                entry.object_key,
            )
        self.missing[key] = entry

    async def _find_index(self, key: PartitionKey, offset: int) -> list[IndexEntry]:
        """Index entries from the one holding `offset` on: cached, else looked up (and cached)."""
        entries = self._index_cache.lookup(key, offset, INDEX_LOOKUP_ENTRIES)
        if not entries:
            entries = await self.index.find_index(key[0], key[1], offset, INDEX_LOOKUP_ENTRIES)
            self._index_cache.add(key, entries)
        return entries

    def _read_done(self, key: PartitionKey, next_offset: int, sequential: bool, chunks: list[bytes]) -> list[bytes]:
        """Remember where this read from objects ended; a second read in a row starts a read-ahead."""
        missing = self.missing.get(key)
        if missing is not None and next_offset > missing.last_offset:
            del self.missing[key]  # the offsets it held read well now
        self._read_ends[key] = next_offset
        tail = self.tails.get(key)
        state = self.states.get(key)
        # A reader at the tail or the high watermark has nothing left to read ahead for.
        caught_up = (tail is not None and tail.holds(next_offset)) or (
            state is not None and next_offset >= state.high_watermark
        )
        if sequential and chunks and not caught_up and self.read_ahead_bytes > 0 and key not in self.read_aheads:
            task = asyncio.create_task(self._read_ahead(key, next_offset), name=f"read-ahead-{key[0]}-{key[1]}")
            self.read_aheads[key] = task
            task.add_done_callback(lambda _: self.read_aheads.pop(key, None))
        return chunks

    async def _read_ahead(self, key: PartitionKey, offset: int) -> None:
        """Load the ranges after `offset`, up to read_ahead_bytes, into the caches; failures are left to fetches."""
        try:
            entries = await self.index.find_index(key[0], key[1], offset, READ_AHEAD_ENTRIES)
            self._index_cache.add(key, entries)
        except Exception as exc:  # the fetch that needs these offsets will meet the failure and report it
            log.debug("read-ahead of %s/%d: index look-up failed: %s", *key, exc)
            return
        tail = self.tails.get(key)
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
        sizes = {"tail": self.tails.size, "object_range": self._ranges.size}
        if self._disk_cache is not None:
            sizes["disk"] = self._disk_cache.size
        return sizes
