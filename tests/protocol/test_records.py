"""Record batches v2: round trips for every codec, validation of bad bytes, patching, fuzzing."""

from __future__ import annotations

import contextlib
import struct

import cramjam
import crc32c
import lz4.frame
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamhouse.protocol.errors import EncodeError, ProtocolError
from streamhouse.protocol.records import (
    BATCH_HEADER,
    HEADER_SIZE,
    BatchHeader,
    Compression,
    CorruptBatchError,
    Record,
    TimestampType,
    build_batch,
    iter_batches,
    iter_records,
    set_log_append_time,
    with_offsets,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

record_strategy = st.builds(
    Record,
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=200),
    headers=st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)), max_size=3),
    timestamp=st.none() | st.integers(0, 2**42),
)
records_strategy = st.lists(record_strategy, min_size=1, max_size=8)


def _records(batch: bytes) -> list[Record]:
    return [record for header, view in iter_batches(batch) for record in iter_records(header, view)]


def _raw_batch(section: bytes, count: int, *, compression: int = 0, last_offset_delta: int | None = None) -> bytes:
    """A batch around an arbitrary records section, with a valid CRC."""
    delta = count - 1 if last_offset_delta is None else last_offset_delta
    header = BATCH_HEADER.pack(
        0, HEADER_SIZE - 12 + len(section), -1, 2, 0, compression, delta, 0, 0, -1, -1, -1, count
    )
    return _with_crc(bytearray(header + section))


def _record(body: bytes) -> bytes:
    """A record with its length prefix (bodies below 64 bytes: a one-byte varint)."""
    return bytes([len(body) * 2]) + body


def _record_bytes(index: int) -> bytes:
    """Record `index` as Kafka lays it out: offset delta `index`, null key, value b"v<index>", no headers."""
    return _record(b"\x00\x00" + bytes([index * 2]) + b"\x01\x04v" + str(index).encode() + b"\x00")


def _with_crc(batch: bytearray) -> bytes:
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    return bytes(batch)


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name)
@FAST
@given(records=records_strategy, base_offset=st.integers(0, 2**40), base_timestamp=st.none() | st.integers(0, 2**41))
def test_round_trip(
    compression: Compression, records: list[Record], base_offset: int, base_timestamp: int | None
) -> None:
    batch = build_batch(records, base_offset=base_offset, compression=compression, base_timestamp=base_timestamp)
    ((header, view),) = iter_batches(batch)
    assert header.compression is compression
    assert header.size == len(view) == len(batch)
    assert header.records_count == len(records) and header.last_offset == base_offset + len(records) - 1
    read = list(iter_records(header, view))
    assert [r.offset for r in read] == list(range(base_offset, base_offset + len(records)))
    assert [(r.key, r.value, r.headers) for r in read] == [(r.key, r.value, r.headers) for r in records]
    expected_timestamps = [header.base_timestamp if r.timestamp is None else r.timestamp for r in records]
    assert [r.timestamp for r in read] == expected_timestamps
    assert header.max_timestamp == max(expected_timestamps)
    if base_timestamp is not None:
        assert header.base_timestamp == base_timestamp


def test_header_fields_and_flags_round_trip() -> None:
    batch = build_batch(
        [Record(b"k", b"v", timestamp=1_000), Record(None, b"w", timestamp=2_000, offset_delta=4)],
        base_offset=100,
        compression=Compression.ZSTD,
        timestamp_type=TimestampType.CREATE_TIME,
        producer_id=77,
        producer_epoch=3,
        base_sequence=12,
        partition_leader_epoch=9,
        is_transactional=True,
        is_control=True,
    )
    ((header, view),) = iter_batches(batch)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 3, 12)
    assert header.partition_leader_epoch == 9 and header.magic == 2
    assert header.is_transactional and header.is_control
    assert header.timestamp_type is TimestampType.CREATE_TIME
    assert (header.base_timestamp, header.max_timestamp) == (1_000, 2_000)
    assert (header.last_offset_delta, header.last_offset, header.records_count) == (4, 104, 2)
    assert [(r.offset, r.offset_delta) for r in iter_records(header, view)] == [(100, 0), (104, 4)]


def test_records_without_timestamps_take_the_given_base_timestamp() -> None:
    batch = build_batch([Record(b"a", b"1"), Record(b"b", b"2", timestamp=50)], base_timestamp=40)
    assert [r.timestamp for r in _records(batch)] == [40, 50]


def test_build_batch_rejects_what_a_batch_cannot_carry() -> None:
    with pytest.raises(EncodeError):
        build_batch([])
    with pytest.raises(EncodeError):
        build_batch([Record(b"a", b"1", offset_delta=2), Record(b"b", b"2", offset_delta=2)])
    with pytest.raises(EncodeError):
        build_batch([Record(b"a", b"1")], producer_id=2**63)


# -- codecs ---------------------------------------------------------------------


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name)
def test_codec_round_trip_across_blocks(compression: Compression) -> None:
    data = bytes(range(256)) * 700  # above snappy's 32 KiB and lz4's 64 KiB blocks
    assert compression.decompress(compression.compress(data)) == data
    assert compression.decompress(compression.compress(b"")) == b""


def test_snappy_encodes_xerial_framing() -> None:
    compressed = Compression.SNAPPY.compress(b"x" * 100_000)
    assert compressed.startswith(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")


def test_snappy_decodes_a_raw_block() -> None:
    data = b"librdkafka " * 500
    assert Compression.SNAPPY.decompress(bytes(cramjam.snappy.compress_raw(data))) == data
    section = b"".join(_record_bytes(i) for i in range(3))
    batch = _raw_batch(bytes(cramjam.snappy.compress_raw(section)), 3, compression=Compression.SNAPPY)
    assert [r.value for r in _records(batch)] == [b"v0", b"v1", b"v2"]


def test_lz4_frames_have_independent_blocks_and_no_content_size() -> None:
    flags = Compression.LZ4.compress(b"data" * 10)[4]
    assert flags & 0x20 and not flags & 0x08


def test_zstd_decodes_streamed_frames_without_content_size() -> None:
    data = b"zstd stream " * 1000
    no_size = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    assert zstandard.get_frame_parameters(no_size).content_size == zstandard.CONTENTSIZE_UNKNOWN
    assert Compression.ZSTD.decompress(no_size) == data
    assert Compression.ZSTD.decompress(no_size + no_size) == data + data


def test_gzip_decodes_several_members() -> None:
    assert Compression.GZIP.decompress(Compression.GZIP.compress(b"a") + Compression.GZIP.compress(b"b")) == b"ab"


@pytest.mark.parametrize("compression", list(Compression)[1:], ids=lambda c: c.name)
def test_decompression_is_bounded(compression: Compression) -> None:
    compressed = compression.compress(bytes(100_000))
    assert len(compression.decompress(compressed, limit=100_000)) == 100_000
    with pytest.raises(ProtocolError, match="more than"):
        compression.decompress(compressed, limit=99_999)


def _damaged(compression: Compression) -> dict[str, bytes]:
    good = compression.compress(b"some records " * 100)
    cases = {"garbage": b"\xff" * 40, "truncated": good[: len(good) // 2], "empty": b""}
    if compression is Compression.SNAPPY:
        xerial = good[:16]
        cases["xerial-header"] = xerial[:12]
        cases["xerial-block"] = xerial + struct.pack(">i", 5) + b"\xff" * 5
        cases["xerial-length"] = xerial + struct.pack(">i", -1)
    if compression is Compression.GZIP:
        bad_checksum = bytearray(good)
        bad_checksum[-8] ^= 0xFF
        cases["checksum"] = bytes(bad_checksum)
    return cases


DAMAGED = [
    pytest.param(compression, data, id=f"{compression.name}-{name}")
    for compression in list(Compression)[1:]
    for name, data in _damaged(compression).items()
]


@pytest.mark.parametrize(("compression", "data"), DAMAGED)
def test_bad_compressed_data_is_a_protocol_error(compression: Compression, data: bytes) -> None:
    with pytest.raises(ProtocolError):
        compression.decompress(data)


def test_compressed_batch_with_bad_payload_is_a_protocol_error() -> None:
    batch = _raw_batch(b"not gzip at all", 1, compression=Compression.GZIP)
    ((header, view),) = iter_batches(batch)
    with pytest.raises(ProtocolError, match="gzip"):
        list(iter_records(header, view))


# -- batch validation -------------------------------------------------------------


@pytest.mark.parametrize("position", [21, 22, 24, 40, 57, 60, 61, -1])
def test_damage_in_crc_covered_bytes_is_a_corrupt_batch(position: int) -> None:
    batch = bytearray(build_batch([Record(b"key", b"value", [("h", b"x")])]))
    batch[position] ^= 0x40
    with pytest.raises(CorruptBatchError):
        list(iter_batches(batch))


def test_damaged_crc_field_is_a_corrupt_batch() -> None:
    batch = bytearray(build_batch([Record(b"k", b"v")]))
    batch[18] ^= 1
    with pytest.raises(CorruptBatchError, match="CRC"):
        list(iter_batches(batch))


def test_bad_magic_is_a_protocol_error_before_the_crc() -> None:
    batch = bytearray(build_batch([Record(b"k", b"v")]))
    batch[16] = 1
    with pytest.raises(ProtocolError, match="magic 1") as raised:
        list(iter_batches(batch))
    assert not isinstance(raised.value, CorruptBatchError)


@pytest.mark.parametrize("cut", [1, 11, 12, 20, 60, 61])
def test_short_buffer_is_a_protocol_error(cut: int) -> None:
    with pytest.raises(ProtocolError):
        list(iter_batches(build_batch([Record(b"k", b"v")])[:cut]))


@pytest.mark.parametrize("batch_length", [-1, 0, 48, 2**31 - 1])
def test_bad_batch_length_is_a_protocol_error(batch_length: int) -> None:
    batch = bytearray(build_batch([Record(b"k", b"v")]))
    struct.pack_into(">i", batch, 8, batch_length)
    with pytest.raises(ProtocolError, match="batchLength"):
        list(iter_batches(batch))


def test_batch_length_one_too_big_is_a_protocol_error() -> None:
    batch = bytearray(build_batch([Record(b"k", b"v")]))
    struct.pack_into(">i", batch, 8, len(batch) - 12 + 1)
    with pytest.raises(ProtocolError, match="runs past"):
        list(iter_batches(batch))


@pytest.mark.parametrize(
    ("count", "last_offset_delta", "compression", "match"),
    [
        (-1, 0, 0, "records for"),
        (3, 1, 0, "records for"),
        (1, -1, 0, "negative lastOffsetDelta"),
        (1, 0, 5, "compression codec 5"),
    ],
)
def test_inconsistent_header_is_a_protocol_error(
    count: int, last_offset_delta: int, compression: int, match: str
) -> None:
    batch = _raw_batch(_record_bytes(0), count, compression=compression, last_offset_delta=last_offset_delta)
    with pytest.raises(ProtocolError, match=match):
        list(iter_batches(batch))


# -- record validation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "count", "match"),
    [
        (b"\x03" + b"\x00" * 8, 1, "length -2"),  # negative record length
        (b"\x00", 1, "length 0"),
        (b"\xff\xff\xff\xff\xff\x01", 1, "longer than 5 bytes"),  # over-long varint
        (b"\xff\xff\xff\xff\x7f", 1, "above 32 bits"),
        (b"\x18\x00" + b"\x80" * 10 + b"\x00", 1, "longer than 10 bytes"),  # over-long varlong
        (_record(b"\x00\x00\x00\x03"), 1, "length -2"),  # key length -2
        (_record(b"\x00\x00\x00\x01\x04"), 1, "length 2 with 0"),  # value longer than the record
        (_record(b"\x00\x00\x00\x01\x01\x01"), 1, "negative header count"),
        (_record(b"\x00\x00\x00\x01\x01\x02\x01"), 1, "header key length -1"),
        (_record(b"\x00\x00\x00\x01\x01\x02\x02\xff\x01"), 1, "not UTF-8"),
        (_record(b"\x00\x00\x00\x01\x01\x00\x00"), 1, "left over inside"),
        (b"\x80", 1, "truncated"),  # varint cut short
        (_record_bytes(0) + _record_bytes(1), 3, "truncated"),  # fewer records than counted
        (_record_bytes(0) + b"\x00", 1, "bytes left after"),
    ],
)
def test_malformed_record_is_a_protocol_error(section: bytes, count: int, match: str) -> None:
    ((header, view),) = iter_batches(_raw_batch(section, count))
    with pytest.raises(ProtocolError, match=match):
        list(iter_records(header, view))


def test_raw_record_bytes_decode_as_kafka_lays_them_out() -> None:
    ((header, view),) = iter_batches(_raw_batch(_record_bytes(0) + _record_bytes(1), 2))
    assert [(r.key, r.value, r.offset, r.headers) for r in iter_records(header, view)] == [
        (None, b"v0", 0, []),
        (None, b"v1", 1, []),
    ]


def test_control_batch_records_can_be_read() -> None:
    marker = build_batch([Record(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")], is_control=True)
    ((header, view),) = iter_batches(marker)
    assert header.is_control
    assert [r.key for r in iter_records(header, view)] == [b"\x00\x00\x00\x01"]


# -- walking, patching, stamping ---------------------------------------------------


def _three_batches() -> tuple[list[bytes], bytes]:
    batches = [
        build_batch([Record(b"a", b"1"), Record(b"b", b"2")], base_offset=0),
        build_batch([Record(None, b"3")], base_offset=2, compression=Compression.LZ4),
        build_batch([Record(b"c", None, [("h", None)])], base_offset=3, compression=Compression.GZIP),
    ]
    return batches, b"".join(batches)


def test_iter_batches_walks_concatenated_batches_without_copying() -> None:
    batches, buffer = _three_batches()
    walked = list(iter_batches(buffer))
    assert [bytes(view) for _, view in walked] == batches
    assert [header.base_offset for header, _ in walked] == [0, 2, 3]
    assert all(view.obj is buffer for _, view in walked)
    assert [r.offset for header, view in walked for r in iter_records(header, view)] == [0, 1, 2, 3]


@pytest.mark.parametrize("tail", [1, 11, 12, 40, 61, 70])
def test_partial_tail(tail: int) -> None:
    batches, buffer = _three_batches()
    cut = buffer + batches[0][:tail]
    with pytest.raises(ProtocolError):
        list(iter_batches(cut))
    assert [bytes(view) for _, view in iter_batches(cut, allow_partial_tail=True)] == batches


def test_a_bad_batch_length_in_the_tail_is_still_an_error() -> None:
    _, buffer = _three_batches()
    with pytest.raises(ProtocolError, match="batchLength"):
        list(iter_batches(buffer + b"\x00" * 8 + struct.pack(">i", 10), allow_partial_tail=True))


def test_with_offsets_sets_base_offsets_and_leader_epoch_and_keeps_the_crc_valid() -> None:
    _, buffer = _three_batches()
    patched = with_offsets(memoryview(buffer), 1000, 7)
    assert len(patched) == len(buffer) and buffer[:8] != patched[:8]
    walked = list(iter_batches(patched))
    assert [(h.base_offset, h.partition_leader_epoch) for h, _ in walked] == [(1000, 7), (1002, 7), (1003, 7)]
    assert [r.offset for header, view in walked for r in iter_records(header, view)] == [1000, 1001, 1002, 1003]


def test_with_offsets_of_one_batch_patches_it_as_the_walk_over_several_does() -> None:
    batches, _ = _three_batches()
    for batch in batches:
        one = with_offsets(batch, 500, 3)
        ((header, _),) = iter_batches(one)  # CRC still valid
        assert (header.base_offset, header.partition_leader_epoch) == (500, 3)
        assert one == with_offsets(batch + batches[0], 500, 3)[: len(batch)]  # as the walk patches it
        assert one[16:] == batch[16:] and one[8:12] == batch[8:12]


def test_set_log_append_time() -> None:
    original = build_batch([Record(b"a", b"1", timestamp=10), Record(b"b", b"2", timestamp=20)])
    stamped, header = set_log_append_time(original, 5_000)
    ((parsed, view),) = iter_batches(stamped)
    assert parsed == header
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert (header.base_timestamp, header.max_timestamp) == (10, 5_000)
    assert [r.timestamp for r in iter_records(header, view)] == [5_000, 5_000]


def test_batch_header_helpers() -> None:
    header = BatchHeader(10, 100, 0, 2, 0, 0b111011, 4, 0, 0, -1, -1, -1, 5)
    assert header.compression is Compression.LZ4
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert header.is_transactional and header.is_control
    assert (header.last_offset, header.size) == (14, 112)


# -- fuzzing -------------------------------------------------------------------------


def _read_everything(buffer: bytes | bytearray, verify_crc: bool = True, allow_partial_tail: bool = False) -> None:
    for header, view in iter_batches(buffer, verify_crc=verify_crc, allow_partial_tail=allow_partial_tail):
        for _ in iter_records(header, view):
            pass


mutation = st.tuples(st.sampled_from(["flip", "set", "cut", "insert"]), st.integers(0, 10**6), st.integers(0, 255))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(record_strategy, min_size=1, max_size=4),
    compression=st.sampled_from(list(Compression)),
    mutations=st.lists(mutation, min_size=1, max_size=4),
    fix_crc=st.booleans(),
    verify_crc=st.booleans(),
    allow_partial_tail=st.booleans(),
)
def test_fuzzed_batches_raise_only_protocol_errors(
    records: list[Record],
    compression: Compression,
    mutations: list[tuple[str, int, int]],
    fix_crc: bool,
    verify_crc: bool,
    allow_partial_tail: bool,
) -> None:
    buffer = bytearray(build_batch(records, compression=compression) * 2)
    for kind, where, byte in mutations:
        at = where % (len(buffer) + 1)
        if kind == "flip" and at < len(buffer):
            buffer[at] ^= 1 << (byte % 8)
        elif kind == "set" and at < len(buffer):
            buffer[at] = byte
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = bytes([byte])
    if fix_crc and len(buffer) >= HEADER_SIZE:
        buffer = bytearray(_with_crc(buffer))  # so damage reaches the records, not only the CRC check
    with contextlib.suppress(ProtocolError):
        _read_everything(buffer, verify_crc, allow_partial_tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    section=st.binary(max_size=80),
    count=st.integers(0, 5),
    compression=st.sampled_from(list(Compression)),
    compress_section=st.booleans(),
)
def test_random_record_sections_raise_only_protocol_errors(
    section: bytes, count: int, compression: Compression, compress_section: bool
) -> None:
    payload = compression.compress(section) if compress_section else section
    batch = _raw_batch(payload, count, compression=compression, last_offset_delta=max(count - 1, 0))
    with contextlib.suppress(ProtocolError):
        _read_everything(batch)


def test_lz4_frame_from_the_reference_library_decodes() -> None:
    assert Compression.LZ4.decompress(lz4.frame.compress(b"linked blocks " * 5000)) == b"linked blocks " * 5000
