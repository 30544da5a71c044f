"""The log cleaner's decisions on batches built here: what it keeps, where segments roll, and how
the cleaned batches read back (offsets preserved across the gaps it leaves)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from metadata.base import IndexEntry
from metadata.commit import check_replacement
from protocol.records import Compression, Record, build_batch, build_marker_batch, iter_batches, iter_records
from storage.cleaner import (
    CleanerSettings,
    IoThrottle,
    clean_range,
    cleanable_range,
    first_cleaned_ms,
    head_segment_start,
    pruned_clean_times,
)
from storage.reader import patch_offsets

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
