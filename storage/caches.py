"""The read path's caches in memory: each partition's newest batches, index entries, object ranges."""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from uuid import UUID

from streamhouse.metadata.base import IndexEntry
from streamhouse.storage.diskcache import RangeKey

PartitionKey = tuple[UUID, int]


@dataclass
class Tail:
    """One partition's newest committed batches, oldest first, as parallel deques of plain ints and bytes.

    The garbage collector tracks none of their items, so a full cache (hundreds of thousands of
    small batches) adds nothing to its passes, as an object per batch would.
    """

    bases: deque[int] = field(default_factory=deque)  # base offsets, for bisect
    lasts: deque[int] = field(default_factory=deque)  # last offsets
    data: deque[bytes] = field(default_factory=deque)  # the batches, patched with their offsets

    def holds(self, offset: int) -> bool:
        """Whether the batch holding `offset` is here (another broker may have appended after it)."""
        return bool(self.bases) and self.bases[0] <= offset <= self.lasts[-1]

    def read(self, offset: int, max_bytes: int, first_whole: bool) -> tuple[list[bytes], int]:
        """Batches from the one holding `offset` on, up to max_bytes; and the offset after them."""
        index = max(bisect.bisect_right(self.bases, offset) - 1, 0)
        chunks: list[bytes] = []
        size = 0
        next_offset = offset
        for data, last_offset in itertools.islice(zip(self.data, self.lasts, strict=True), index, None):
            if (chunks or not first_whole) and size + len(data) > max_bytes:
                break
            chunks.append(data)
            size += len(data)
            next_offset = last_offset + 1
            if size >= max_bytes:
                break
        return chunks, next_offset


class TailCache:
    """Each partition's newest committed batches, within one byte bound over all partitions (oldest out first)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._tails: dict[PartitionKey, Tail] = {}
        self._order: deque[Tail] = deque()  # the tail of each cached batch, oldest batch first

    def get(self, key: PartitionKey) -> Tail | None:
        return self._tails.get(key)

    def add(self, key: PartitionKey, base_offset: int, last_offset: int, data: bytes) -> None:
        """Cache a batch just committed, patched with its offsets."""
        tail = self._tails.get(key)
        if tail is not None and tail.lasts and tail.lasts[-1] + 1 != base_offset:
            # Another broker appended in between: the tail is no longer contiguous.
            self.drop(key)
            tail = None
        if tail is None:  # not setdefault: that would make a Tail, three deques, for every batch
            tail = self._tails[key] = Tail()
        tail.bases.append(base_offset)
        tail.lasts.append(last_offset)
        tail.data.append(data)
        self._order.append(tail)
        self.size += len(data)
        while self.size > self.max_bytes and self._order:
            oldest = self._order.popleft()
            self.size -= len(oldest.data.popleft())
            oldest.bases.popleft()
            oldest.lasts.popleft()

    def drop(self, key: PartitionKey) -> None:
        tail = self._tails.pop(key, None)
        if tail is not None:
            self.size -= sum(map(len, tail.data))
            self._order = deque(cached for cached in self._order if cached is not tail)

    def forget_topic(self, topic_id: UUID) -> None:
        for key in [key for key in self._tails if key[0] == topic_id]:
            self.drop(key)


class ByteBoundedLru:
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


class IndexCache:
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
