"""The share-partition model (broker/share/partition.py): acquisition, locks, acknowledgements, the stored document."""

from __future__ import annotations

import pytest

from streamhouse.broker.share.partition import (
    AcknowledgeType,
    Acquired,
    InvalidRecordStateError,
    RecordState,
    SharePartition,
)

ACCEPT, RELEASE, REJECT, GAP = (
    AcknowledgeType.ACCEPT,
    AcknowledgeType.RELEASE,
    AcknowledgeType.REJECT,
    AcknowledgeType.GAP,
)
LOCK_MS = 1000


def test_records_are_acquired_once_until_released_and_then_counted_again() -> None:
    share = SharePartition(10)
    assert share.acquire("a", 10, 14, 3, now_ms=0, lock_ms=LOCK_MS) == [Acquired(10, 12, 1)]
    assert share.acquire("b", 10, 14, 10, now_ms=0, lock_ms=LOCK_MS) == [Acquired(13, 14, 1)]
    share.acknowledge("a", 10, 12, [RELEASE], now_ms=0)
    assert share.acquire("b", 10, 14, 10, now_ms=0, lock_ms=LOCK_MS) == [Acquired(10, 12, 2)]


def test_accepted_and_rejected_records_move_the_window_start() -> None:
    share = SharePartition(0)
    share.acquire("a", 0, 5, 10, now_ms=0, lock_ms=LOCK_MS)
    share.acknowledge("a", 0, 2, [ACCEPT, REJECT, ACCEPT], now_ms=0)
    assert share.start_offset == 3
    share.acknowledge("a", 4, 5, [ACCEPT], now_ms=0)
    assert share.start_offset == 3  # offset 3 is still acquired
    share.acknowledge("a", 3, 3, [GAP], now_ms=0)
    assert (share.start_offset, share.records) == (6, {})


def test_an_expired_lock_makes_the_records_available_to_another_member() -> None:
    share = SharePartition(0)
    share.acquire("a", 0, 1, 10, now_ms=0, lock_ms=LOCK_MS)
    assert share.acquire("b", 0, 1, 10, now_ms=LOCK_MS - 1, lock_ms=LOCK_MS) == []
    assert share.acquire("b", 0, 1, 10, now_ms=LOCK_MS, lock_ms=LOCK_MS) == [Acquired(0, 1, 2)]
    with pytest.raises(InvalidRecordStateError):
        share.acknowledge("a", 0, 1, [ACCEPT], now_ms=LOCK_MS)  # no longer its records


def test_an_acknowledgement_after_the_lock_expired_is_refused_and_the_records_come_again() -> None:
    share = SharePartition(0)
    share.acquire("a", 0, 1, 10, now_ms=0, lock_ms=LOCK_MS)
    with pytest.raises(InvalidRecordStateError):
        share.acknowledge("a", 0, 1, [ACCEPT], now_ms=LOCK_MS)
    assert share.acquire("a", 0, 1, 10, now_ms=LOCK_MS, lock_ms=LOCK_MS) == [Acquired(0, 1, 2)]


def test_the_delivery_limit_archives_a_record_released_once_too_often() -> None:
    share = SharePartition(0, delivery_limit=2)
    share.acquire("a", 0, 0, 1, now_ms=0, lock_ms=LOCK_MS)
    share.acknowledge("a", 0, 0, [RELEASE], now_ms=0)
    share.acquire("a", 0, 0, 1, now_ms=0, lock_ms=LOCK_MS)
    share.acknowledge("a", 0, 0, [RELEASE], now_ms=0)
    assert share.records == {} and share.start_offset == 1  # archived, so the window moved past it
    assert share.acquire("a", 0, 0, 1, now_ms=0, lock_ms=LOCK_MS) == []


def test_a_bad_acknowledgement_changes_nothing() -> None:
    share = SharePartition(0)
    share.acquire("a", 0, 2, 10, now_ms=0, lock_ms=LOCK_MS)
    for first, last, types in [(0, 3, [ACCEPT]), (0, 2, [ACCEPT, ACCEPT]), (0, 2, [9]), (2, 1, [ACCEPT])]:
        with pytest.raises(InvalidRecordStateError):
            share.acknowledge("a", first, last, types, now_ms=0)
    with pytest.raises(InvalidRecordStateError):
        share.acknowledge("b", 0, 0, [ACCEPT], now_ms=0)
    assert share.counts()[RecordState.ACQUIRED] == 3


def test_a_member_leaving_releases_what_it_holds() -> None:
    share = SharePartition(0)
    share.acquire("a", 0, 1, 10, now_ms=0, lock_ms=LOCK_MS)
    assert share.release_member("a") == 2
    assert share.acquire("b", 0, 1, 10, now_ms=0, lock_ms=LOCK_MS) == [Acquired(0, 1, 2)]


def test_the_document_keeps_acknowledgements_and_delivery_counts_but_not_locks() -> None:
    share = SharePartition(5)
    share.acquire("a", 5, 9, 10, now_ms=0, lock_ms=LOCK_MS)
    share.acknowledge("a", 6, 6, [ACCEPT], now_ms=0)
    share.acknowledge("a", 7, 7, [REJECT], now_ms=0)
    restored = SharePartition.from_document(share.document(), delivery_limit=5)
    assert (restored.start_offset, restored.end_offset) == (5, 10)
    assert restored.acquire("b", 5, 11, 10, now_ms=0, lock_ms=LOCK_MS) == [
        Acquired(5, 5, 2),
        Acquired(8, 9, 2),
        Acquired(10, 11, 1),
    ]


def test_first_available_skips_held_records_and_stops_below_the_end() -> None:
    share = SharePartition(0)
    assert share.first_available(now_ms=0, below=0) is None
    share.acquire("a", 0, 2, 10, now_ms=0, lock_ms=LOCK_MS)
    assert share.first_available(now_ms=0, below=3) is None
    assert share.first_available(now_ms=0, below=5) == 3
    share.acknowledge("a", 1, 1, [RELEASE], now_ms=0)
    assert share.first_available(now_ms=0, below=5) == 1
