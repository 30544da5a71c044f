"""protocol.validation: each record of a client's batch walked, by the compiled helper and its Python reference."""

from __future__ import annotations

import random
import struct
import time

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

import streamhouse.protocol.records  # noqa: F401  (loads the submodule the code reaches through the package)
from streamhouse import protocol
from streamhouse.protocol import validation
from streamhouse.protocol._recordscan import scan as compiled_scan  # built by `pip install .`
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.records import (
    BATCH_HEADER,
    HEADER_SIZE,
    MIN_BATCH_LENGTH,
    Compression,
    InvalidRecordError,
    Record,
    TimestampType,
    build_batch,
    iter_batches,
)
from streamhouse.protocol.validation import (
    SCAN_CORRUPT,
    SCAN_DONE,
    SCAN_INVALID,
    SCAN_MORE,
    needs_record_errors,
    record_errors,
    scan_records_py,
    timestamp_bounds,
    validate_batch,
)

LIMIT = 1 << 24


def _validate(batch: bytes, limit: int = LIMIT) -> validation.RecordSummary:
    [(header, view)] = list(iter_batches(batch))
    return validate_batch(header, view, max_uncompressed=limit)


def _rebatched(section: bytes, count: int, codec: Compression = Compression.NONE) -> bytes:
    now = int(time.time() * 1000)
    header = BATCH_HEADER.pack(
        0, MIN_BATCH_LENGTH + len(section), -1, 2, 0, codec, count - 1, now, now, -1, -1, -1, count
    )
    batch = bytearray(header + section)
    struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[21:]))
    return bytes(batch)


RECORDS = [
    Record(
        key=None if i % 4 == 0 else b"k%d" % i, value=bytes(i * 7), headers=[("h", b"x")] * (i % 3), timestamp=1000 + i
    )
    for i in range(50)
]


@pytest.mark.parametrize("codec", list(Compression))
def test_a_good_batch_of_each_codec_is_summarised(codec: Compression) -> None:
    summary = _validate(build_batch(RECORDS, compression=codec))
    assert summary == validation.RecordSummary(records=50, min_timestamp=1000, max_timestamp=1049, keyless=13)


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.LZ4, Compression.ZSTD])
def test_records_larger_than_a_decompressed_piece_are_read_as_they_come(
    codec: Compression, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = build_batch(RECORDS, compression=codec)
    whole = _validate(batch)
    monkeypatch.setattr(protocol.records, "DECOMPRESS_PIECE", 7)  # every record straddles pieces
    assert _validate(batch) == whole


def _outcome(batch: bytes) -> object:
    try:
        return _validate(batch)
    except ProtocolError as exc:
        return type(exc)


def test_records_read_as_they_come_are_judged_as_records_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2026)
    section = build_batch(RECORDS[:6], base_timestamp=1000)[HEADER_SIZE:]
    judged = set()
    for _ in range(3000):
        mutated = bytearray(section)
        for _ in range(rng.randint(0, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        batch = _rebatched(Compression.LZ4.compress(mutated), rng.choice((5, 6, 7)), Compression.LZ4)
        monkeypatch.setattr(protocol.records, "DECOMPRESS_PIECE", 1 << 20)
        whole = _outcome(batch)
        monkeypatch.setattr(protocol.records, "DECOMPRESS_PIECE", rng.choice((1, 5, 16)))
        assert _outcome(batch) == whole, bytes(mutated).hex()
        judged.add(whole if isinstance(whole, type) else "accepted")
    assert judged == {"accepted", ProtocolError, InvalidRecordError}


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD])
def test_records_decompressing_past_the_bound_are_corrupt(codec: Compression) -> None:
    batch = build_batch([Record(None, bytes(100_000))], compression=codec)
    assert _validate(batch, limit=100_100).records == 1
    with pytest.raises(ProtocolError, match="decompress to more than 50000") as raised:
        _validate(batch, limit=50_000)
    assert not isinstance(raised.value, InvalidRecordError)


def test_wrong_counts_and_offsets_are_invalid_records() -> None:
    one = build_batch([Record(None, b"v")])[HEADER_SIZE:]
    two = build_batch([Record(None, b"v"), Record(None, b"w")])[HEADER_SIZE:]
    with pytest.raises(InvalidRecordError, match="fewer records"):
        _validate(_rebatched(one, 3))
    with pytest.raises(InvalidRecordError, match="bytes left after"):
        _validate(_rebatched(two, 1))
    with pytest.raises(InvalidRecordError, match="offset deltas"):
        _validate(_rebatched(_swap(two), 2))


def _swap(section: bytes) -> bytes:
    """A records section of two records with the records in the other order."""
    first = section[0] // 2 + 1
    return section[first:] + section[:first]


def test_a_control_batch_or_a_producer_without_sequence_is_invalid() -> None:
    with pytest.raises(InvalidRecordError, match="control"):
        _validate(build_batch([Record(None, b"v")], is_control=True))
    with pytest.raises(InvalidRecordError, match="sequence"):
        _validate(build_batch([Record(None, b"v")], producer_id=7, producer_epoch=0))


def test_record_errors_name_keyless_records_and_timestamps_out_of_bounds() -> None:
    batch = build_batch(RECORDS)
    [(header, view)] = list(iter_batches(batch))
    summary = validate_batch(header, view, max_uncompressed=LIMIT)
    bounds = timestamp_bounds(now=1030, before_max_ms=10, after_max_ms=5)
    assert needs_record_errors(header, summary, compacted=False, bounds=bounds)
    errors, by_timestamp = record_errors(
        header, view, first_index=3, compacted=True, bounds=bounds, max_uncompressed=LIMIT
    )
    keyless = {3 + i for i in range(50) if i % 4 == 0}
    late_or_early = {3 + i for i in range(50) if not 1020 <= 1000 + i <= 1035}
    assert {index for index, _ in errors} == keyless | late_or_early
    assert by_timestamp
    inside = timestamp_bounds(now=1030, before_max_ms=100, after_max_ms=100)
    assert not needs_record_errors(header, summary, compacted=False, bounds=inside)


def test_a_batch_the_client_stamped_log_append_time_is_refused_for_its_timestamps() -> None:
    batch = build_batch([Record(None, b"v")], timestamp_type=TimestampType.LOG_APPEND_TIME)
    [(header, view)] = list(iter_batches(batch))
    summary = validate_batch(header, view, max_uncompressed=LIMIT)
    assert needs_record_errors(header, summary, compacted=False, bounds=None)
    assert record_errors(header, view, first_index=0, compacted=False, bounds=None, max_uncompressed=LIMIT) == (
        [(0, "Producer should not set timestamp type to LogAppendTime.")],
        True,
    )


@given(st.data())
def test_the_compiled_walk_agrees_with_the_python_reference(data: st.DataObject) -> None:
    section = bytearray(build_batch(RECORDS[: data.draw(st.integers(1, 8))], base_timestamp=0)[HEADER_SIZE:])
    for _ in range(data.draw(st.integers(0, 4))):
        section[data.draw(st.integers(0, len(section) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(section)))
    final = data.draw(st.booleans())
    count = data.draw(st.integers(0, 10))
    chunk = bytes(section[:cut])
    assert compiled_scan(chunk, 0, 0, count, final) == scan_records_py(chunk, 0, 0, count, final)


def test_the_compiled_walk_agrees_on_random_bytes() -> None:
    rng = random.Random(29)
    statuses = set()
    for _ in range(20_000):
        chunk = rng.randbytes(rng.randrange(64))
        count, final = rng.randrange(4), rng.random() < 0.5
        answer = compiled_scan(chunk, 0, 0, count, final)
        assert answer == scan_records_py(chunk, 0, 0, count, final)
        statuses.add(answer[0])
    assert statuses == {SCAN_MORE, SCAN_DONE, SCAN_CORRUPT, SCAN_INVALID}
