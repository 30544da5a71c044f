"""The log cleaner's decisions on batches built here: what it keeps, where segments roll, and how
the cleaned batches read back (offsets preserved across the gaps it leaves)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import pytest

from streamhouse.metadata.base import IndexEntry
from streamhouse.metadata.commit import check_replacement
from streamhouse.metadata.sqlite import SqliteMetadataStore
from streamhouse.protocol.records import (
    Compression,
    Record,
    build_batch,
    build_marker_batch,
    iter_batches,
    iter_records,
)
from streamhouse.storage.cleaner import (
    CleanerSettings,
    IoThrottle,
    LogCleaner,
    clean_range,
    cleanable_range,
    first_cleaned_ms,
    head_segment_start,
    pruned_clean_times,
)
from streamhouse.storage.log import PartitionLog
from streamhouse.storage.maintenance import Maintenance, now_ms
from streamhouse.storage.objects import MemoryObjectStore
from streamhouse.storage.reader import patch_offsets
from streamhouse.storage.transactions import TransactionStates
from tests.storage.test_log import make_log

NOW = 1_700_000_000_000
KEY = "cleaned"
SETTINGS = CleanerSettings(
    segment_ms=100,
    segment_bytes=1 << 30,
    min_compaction_lag_ms=0,
    max_compaction_lag_ms=2**63 - 1,
    min_cleanable_dirty_ratio=0.5,
    delete_retention_ms=1000,
)


def log_of(batches: Sequence[bytes], timestamps: Sequence[int] | None = None) -> tuple[list[IndexEntry], list[bytes]]:
    """One index entry per batch, offsets assigned in order as the sequencer would."""
    entries = []
    offset = 0
    for position, data in enumerate(batches):
        [(header, _)] = list(iter_batches(data))
        stamp = header.max_timestamp if timestamps is None else timestamps[position]
        entries.append(IndexEntry(offset, offset + header.last_offset_delta, f"o{position}", 0, len(data), stamp))
        offset += header.last_offset_delta + 1
    return entries, list(batches)


Found = list[tuple[int, bytes | None, bytes | None]]


def records_of(entries: Sequence[IndexEntry], pieces: Sequence[bytes], key: str) -> Found:
    """(offset, key, value) of every record, read as a fetch reads them: patched run by run."""
    joined = b"".join(pieces)
    found = []
    for entry in entries:
        assert entry.object_key == key
        data = patch_offsets(joined[entry.position : entry.position + entry.length], entry.base_offset)
        for header, batch in iter_batches(data):
            found += [(record.offset, record.key, record.value) for record in iter_records(header, batch)]
    return found


def keyed(*pairs: tuple[str, str | None], timestamp: int = NOW, codec: Compression = Compression.NONE) -> bytes:
    return build_batch(
        [Record(k.encode(), None if v is None else v.encode()) for k, v in pairs],
        base_timestamp=timestamp,
        compression=codec,
    )


@pytest.mark.parametrize("codec", [Compression.NONE, Compression.ZSTD, Compression.GZIP])
def test_the_last_record_of_each_key_is_kept_at_its_offset(codec: Compression) -> None:
    entries, stored = log_of(
        [
            keyed(("a", "1"), ("b", "1"), ("c", "1"), codec=codec),
            keyed(("a", "2"), ("d", "1"), codec=codec),
            keyed(("b", "2"), ("c", "2"), codec=codec),
        ]
    )
    cleaned = clean_range(entries, stored, KEY, (), 1000, NOW)
    assert records_of(cleaned.entries, [bytes(piece) for piece in cleaned.pieces], KEY) == [
        (3, b"a", b"2"),
        (4, b"d", b"1"),
        (5, b"b", b"2"),
        (6, b"c", b"2"),
    ]
    assert cleaned.records_removed == 3
    # The first batch went whole: the entries start where the kept records do, and cover no removed batch.
    assert [(entry.base_offset, entry.last_offset) for entry in cleaned.entries] == [(3, 6)]
    check_replacement(entries, cleaned.entries, cleaned=True)
    with pytest.raises(ValueError, match="offsets"):
        check_replacement(entries, cleaned.entries)


def test_a_partly_kept_batch_keeps_its_base_and_last_offset() -> None:
    entries, stored = log_of([keyed(("a", "1"), ("b", "1"), ("a", "2")), keyed(("b", "2"), ("c", "1"))])
    cleaned = clean_range(entries, stored, KEY, (), 1000, NOW)
    first = next(iter_batches(bytes(cleaned.pieces[0])))[0]
    assert (first.base_offset, first.last_offset_delta, first.records_count) == (0, 2, 1)
    # Both batches kept a record: one run, offsets 0-4, the gap (0, 1, 3) inside the batches.
    assert [(entry.base_offset, entry.last_offset) for entry in cleaned.entries] == [(0, 4)]
    assert records_of(cleaned.entries, [bytes(p) for p in cleaned.pieces], KEY) == [
        (2, b"a", b"2"),
        (3, b"b", b"2"),
        (4, b"c", b"1"),
    ]


def test_tombstones_stay_delete_retention_ms_after_their_first_clean_then_go() -> None:
    entries, stored = log_of([keyed(("a", "1"), ("b", "1")), keyed(("a", None))])
    first = clean_range(entries, stored, KEY, (), 1000, NOW)
    assert records_of(first.entries, [bytes(p) for p in first.pieces], KEY) == [(1, b"b", b"1"), (2, b"a", None)]
    assert first.tombstones_due_ms == NOW + 1000
    times = ((3, NOW),)  # offsets below 3 first cleaned at NOW
    again = clean_range(first.entries, [b"".join(bytes(p) for p in first.pieces)], KEY, times, 1000, NOW + 999)
    assert (2, b"a", None) in records_of(again.entries, [bytes(p) for p in again.pieces], KEY)
    gone = clean_range(first.entries, [b"".join(bytes(p) for p in first.pieces)], KEY, times, 1000, NOW + 1000)
    assert records_of(gone.entries, [bytes(p) for p in gone.pieces], KEY) == [(1, b"b", b"1")]
    assert gone.tombstones_due_ms == 0


def test_aborted_records_go_committed_stay_and_markers_are_kept() -> None:
    def transactional(producer_id: int, *pairs: tuple[str, str]) -> bytes:
        records = [Record(k.encode(), v.encode()) for k, v in pairs]
        return build_batch(records, producer_id=producer_id, producer_epoch=0, base_sequence=0, is_transactional=True)

    entries, stored = log_of(
        [
            transactional(7, ("a", "aborted")),
            transactional(8, ("b", "committed")),
            build_marker_batch(False, 7, 0),
            build_marker_batch(True, 8, 0),
            transactional(9, ("c", "open")),  # its marker is not in the range: kept as it is
        ]
    )
    cleaned = clean_range(entries, stored, KEY, (), 1000, NOW)
    kept = records_of(cleaned.entries, [bytes(p) for p in cleaned.pieces], KEY)
    assert (0, b"a", b"aborted") not in kept
    assert (1, b"b", b"committed") in kept
    assert (4, b"c", b"open") in kept
    assert [offset for offset, _, _ in kept] == [1, 2, 3, 4]  # the two markers at 2 and 3


def test_segments_roll_on_segment_ms_and_segment_bytes_and_the_head_is_never_cleanable() -> None:
    entries, _ = log_of([keyed(("a", str(n))) for n in range(4)], timestamps=[NOW, NOW + 50, NOW + 101 + 50, NOW + 400])
    assert head_segment_start(entries, 100, 1 << 30) == 3
    assert head_segment_start(entries, 1000, 1 << 30) == 0  # one segment: nothing cleanable
    assert head_segment_start(entries, 1000, entries[0].length * 2) == 2
    assert cleanable_range(entries, SETTINGS, 10, NOW + 500, complete=True) == entries[:3]
    assert cleanable_range(entries, SETTINGS, 1, NOW + 500, complete=True) == entries[:1]  # an open transaction at 1
    lagged = CleanerSettings(**{**SETTINGS.__dict__, "min_compaction_lag_ms": 400})
    assert cleanable_range(entries, lagged, 10, NOW + 500, complete=True) == entries[:2]


def test_clean_times_say_when_offsets_were_first_cleaned() -> None:
    times = ((10, NOW), (20, NOW + 500))
    assert first_cleaned_ms(times, 5, NOW + 900) == NOW
    assert first_cleaned_ms(times, 15, NOW + 900) == NOW + 500
    assert first_cleaned_ms(times, 25, NOW + 900) == NOW + 900
    assert pruned_clean_times(times, 1000, NOW + 1400) == times
    assert pruned_clean_times(times, 1000, NOW + 1500) == ((20, NOW + 500),)


async def test_the_throttle_spreads_bytes_over_time() -> None:
    import time

    throttle = IoThrottle(1000)
    started = time.monotonic()
    for _ in range(3):
        await throttle.spend(100)  # 300 bytes at 1000/s: the third waits for the first two, 0.2 s
    assert time.monotonic() - started >= 0.19


# -- passes over a real partition log (memory objects, SQLite in memory) ------------------------


@dataclass
class Cleaning:
    objects: MemoryObjectStore
    metadata: SqliteMetadataStore
    log: PartitionLog
    cleaner: LogCleaner
    topic_id: UUID


@pytest.fixture
async def cleaning() -> AsyncIterator[Cleaning]:
    metadata = SqliteMetadataStore(":memory:")
    await metadata.start()
    objects = MemoryObjectStore()
    log = make_log(objects, metadata)
    log.start()
    states = TransactionStates(metadata)
    states.start()
    cleaner = LogCleaner(objects, metadata, log, states, holder=1, lease_ms=60_000)
    topic_id = (await metadata.topics.create_topic("compacted", 1, {"cleanup.policy": "compact"})).topic_id
    yield Cleaning(objects, metadata, log, cleaner, topic_id)
    cleaner.close()
    states.close()
    await log.close()
    await metadata.close()


async def append(cleaning: Cleaning, timestamp: int, *pairs: tuple[str, str | None]) -> None:
    """One batch, then a maintenance pass: its flush object becomes a segment (the cleaner waits for that)."""
    data = keyed(*pairs, timestamp=timestamp)
    [(header, _)] = list(iter_batches(data))
    await cleaning.log.append(cleaning.topic_id, 0, data, header)
    maintenance = Maintenance(cleaning.objects, cleaning.metadata, cleaning.log)
    assert await maintenance.compact(cleaning.topic_id, 0, 0, now_ms()) == 1  # flush objects are named by real time


async def clean(cleaning: Cleaning, settings: CleanerSettings, now_ms: int) -> int:
    return await cleaning.cleaner.clean(cleaning.topic_id, 0, settings, now_ms)


async def read_back(cleaning: Cleaning) -> Found:
    found: Found = []
    for chunk in await cleaning.log.read(cleaning.topic_id, 0, 0, 1 << 20):
        for header, batch in iter_batches(chunk):
            found += [(record.offset, record.key, record.value) for record in iter_records(header, batch)]
    return found


async def test_a_pass_cleans_past_the_dirty_ratio_reads_see_it_and_the_old_objects_are_collected(
    cleaning: Cleaning,
) -> None:
    for round_number in range(4):  # one batch a second: each its own segment (segment.ms=100)
        await append(cleaning, NOW + round_number * 1000, ("a", str(round_number)), ("b", str(round_number)))
    assert len(await read_back(cleaning)) == 8  # from the tail cache
    before = set(await cleaning.objects.list())
    removed = await clean(cleaning, SETTINGS, NOW + 5000)
    assert removed == 4  # rounds 0-2 are cleanable (round 3 is the active segment): a, b of 0 and 1 go
    assert await read_back(cleaning) == [(4, b"a", b"2"), (5, b"b", b"2"), (6, b"a", b"3"), (7, b"b", b"3")]
    stats = cleaning.cleaner.stats
    assert stats.bytes_read > stats.bytes_written > 0
    assert stats.last_clean_ms[(cleaning.topic_id, 0)] == NOW + 5000
    # Maintenance collects the flush objects no index row references any more.
    collected = await Maintenance(cleaning.objects, cleaning.metadata, cleaning.log).collect_garbage(NOW + 5000)
    assert collected >= 1
    referenced = {entry.object_key for entry in await cleaning.metadata.log.find_index(cleaning.topic_id, 0, 0, 100)}
    assert set(await cleaning.objects.list()) == referenced
    assert before - referenced
    # Nothing new is dirty: the next pass leaves the partition alone.
    assert await clean(cleaning, SETTINGS, NOW + 6000) == 0


async def test_a_low_dirty_ratio_waits_unless_max_compaction_lag_forces_a_clean(cleaning: Cleaning) -> None:
    for round_number in range(4):
        await append(cleaning, NOW + round_number * 1000, *[(f"k{n}", str(round_number)) for n in range(20)])
    await append(cleaning, NOW + 4000, ("head", "x"))
    assert await clean(cleaning, SETTINGS, NOW + 5000) == 60
    await append(cleaning, NOW + 5000, ("k0", "late"))  # a little dirt behind the head
    await append(cleaning, NOW + 6000, ("head", "y"))
    assert await clean(cleaning, SETTINGS, NOW + 7000) == 0  # ratio below 0.5
    assert cleaning.cleaner.stats.dirty_ratio[(cleaning.topic_id, 0)] < 0.5
    overdue = CleanerSettings(**{**SETTINGS.__dict__, "max_compaction_lag_ms": 2000})
    assert await clean(cleaning, overdue, NOW + 7000) == 1  # k0's value of round 3


async def test_a_partition_leased_to_another_broker_is_left_alone(cleaning: Cleaning) -> None:
    for round_number in range(3):
        await append(cleaning, NOW + round_number * 1000, ("a", str(round_number)))
    assert await cleaning.metadata.cleaner.acquire_cleaner_lease(cleaning.topic_id, 0, 2, NOW, 60_000) is not None
    assert await clean(cleaning, SETTINGS, NOW + 5000) == 0
    assert len(await read_back(cleaning)) == 3
    # Once that lease has expired, this broker takes the partition over.
    assert await clean(cleaning, SETTINGS, NOW + 61_000) == 1


async def test_more_live_data_than_a_pass_takes_is_cleaned_in_windows_that_keep_tombstones(cleaning: Cleaning) -> None:
    def round_of(number: int, keys: int) -> list[tuple[str, str | None]]:
        return [(f"k{keys}-{n}", str(number)) for n in range(10)]

    await append(cleaning, NOW, *round_of(0, 0))
    await append(cleaning, NOW + 1000, *round_of(1, 1))
    await append(cleaning, NOW + 2000, *round_of(2, 2))
    await append(cleaning, NOW + 3000, *round_of(3, 2))  # supersedes round 2
    await append(cleaning, NOW + 4000, *[(key, None) for key, _ in round_of(4, 2)])  # deletes those keys
    await append(cleaning, NOW + 5000, ("head", "x"))
    entry_bytes = (await cleaning.metadata.log.find_index(cleaning.topic_id, 0, 0, 1))[0].length
    cleaning.cleaner.bytes_per_pass = entry_bytes * 5 // 2  # two rounds a pass: rounds 0 and 1 alone fill one
    assert await clean(cleaning, SETTINGS, NOW + 10_000) == 0  # from the log start, rounds 0-1: every key live
    # Then a window of the newest cleanable rounds, 3 and 4: the tombstones supersede round 3.
    assert await clean(cleaning, SETTINGS, NOW + 10_000) == 10
    assert await clean(cleaning, SETTINGS, NOW + 20_000) == 0  # nothing dirty is left
    found = await read_back(cleaning)
    assert len([key for _, key, _ in found if key and key.startswith((b"k0-", b"k1-"))]) == 20
    # Round 2 lay before the window and stays, but each of its keys reads last as its tombstone, which
    # stays long past delete.retention.ms: a window cannot tell no older record of its key lies before it.
    last = {key: value for _, key, value in found}
    assert all(last[f"k2-{n}".encode()] is None for n in range(10))
    assert [offset for offset, key, _ in found if key == b"k2-0"] == [20, 40]
