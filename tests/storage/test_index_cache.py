"""The partition log's cache of index entries: one run of adjacent entries per partition."""

from __future__ import annotations

from uuid import uuid4

from streamhouse.metadata.base import IndexEntry
from streamhouse.storage.caches import IndexCache

KEY = (uuid4(), 0)


def entries(*ranges: tuple[int, int], key: str = "flush/1") -> list[IndexEntry]:
    return [IndexEntry(base, last, key, base * 10, 10, 0) for base, last in ranges]


def test_lookups_find_the_entry_holding_the_offset() -> None:
    cache = IndexCache(100)
    cache.add(KEY, entries((0, 4), (5, 9), (10, 14)))
    assert cache.lookup(KEY, 7, 16) == entries((5, 9), (10, 14))
    assert cache.lookup(KEY, 7, 1) == entries((5, 9))
    assert cache.lookup(KEY, 15, 16) == []  # past the run: the store must be asked
    assert cache.lookup((KEY[0], 1), 0, 16) == []


def test_adjacent_lookups_extend_the_run_and_overlapping_ones_replace_its_end() -> None:
    cache = IndexCache(100)
    cache.add(KEY, entries((0, 4), (5, 9)))
    cache.add(KEY, entries((10, 14)))
    assert cache.lookup(KEY, 0, 16) == entries((0, 4), (5, 9), (10, 14))
    cache.add(KEY, entries((5, 9), (10, 19), key="segment"))
    assert cache.lookup(KEY, 0, 16) == [*entries((0, 4)), *entries((5, 9), (10, 19), key="segment")]


def test_entries_cut_differently_replace_the_run() -> None:
    cache = IndexCache(100)
    cache.add(KEY, entries((0, 4), (5, 9)))
    cache.add(KEY, entries((3, 12), key="segment"))  # starts inside (0, 4): would overlap it
    assert cache.lookup(KEY, 0, 16) == []
    assert cache.lookup(KEY, 3, 16) == entries((3, 12), key="segment")


def test_the_run_keeps_its_newest_entries_and_trims_below_the_log_start() -> None:
    cache = IndexCache(2)
    cache.add(KEY, entries((0, 4), (5, 9), (10, 14)))
    assert cache.lookup(KEY, 0, 16) == []
    assert cache.lookup(KEY, 5, 16) == entries((5, 9), (10, 14))
    cache.trim(KEY, 10)
    assert cache.lookup(KEY, 5, 16) == []
    assert cache.lookup(KEY, 12, 16) == entries((10, 14))
    cache.forget_topic(KEY[0])
    assert cache.lookup(KEY, 12, 16) == []
