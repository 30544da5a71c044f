"""Produce of CRC-valid batches whose records are wrong (raw frames): each gets Kafka's error code, nothing is stored.

Good batches of every codec and client are tests/e2e/test_round_trip.py's.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Iterator

import crc32c
import pytest
import zstandard

from streamhouse.broker.client import high_watermarks
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.primitives import write_varint
from streamhouse.protocol.records import BATCH_HEADER, MIN_BATCH_LENGTH, Compression, Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient, produce_body

BOMB_BYTES = 512 * 1024 * 1024  # decompressed; the broker's default bound is 128 MiB
ZEROS = bytes(1024 * 1024)


def _varint(value: int) -> bytes:
    out = io.BytesIO()
    write_varint(out, value)
    return out.getvalue()


def _record(body: bytes) -> bytes:
    return _varint(len(body)) + body


def _plain_record(offset_delta: int, value: bytes = b"v", headers: bytes = b"\x00") -> bytes:
    """attributes, timestamp delta 0, the offset delta, key null, the value, then `headers` (count and headers)."""
    return _record(b"\x00\x00" + _varint(offset_delta) + b"\x01" + _varint(len(value)) + value + headers)


def _batch(section: bytes, count: int, last_offset_delta: int | None = None, codec: int = 0) -> bytes:
    """A batch around a records section as given (compressed already when `codec`), its CRC valid."""
    now = int(time.time() * 1000)
    delta = count - 1 if last_offset_delta is None else last_offset_delta
    header = BATCH_HEADER.pack(0, MIN_BATCH_LENGTH + len(section), -1, 2, 0, codec, delta, now, now, -1, -1, -1, count)
    batch = bytearray(header + section)
    struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[21:]))
    return bytes(batch)


def _produce(broker: BrokerProcess, topic: str, batch: bytes) -> object:
    with WireClient(broker.bootstrap) as client:
        return client.request(PRODUCE, 9, produce_body(topic, batch)).responses[0].partition_responses[0]


def _high_watermark(broker: BrokerProcess, topic: str) -> int:
    with WireClient(broker.bootstrap) as client:
        return high_watermarks(client, [(topic, 0)])[(topic, 0)]


def _refused(broker: BrokerProcess, topic: str, batch: bytes, code: ErrorCode) -> object:
    """Produce `batch` after a good record: it gets `code`, the high watermark stays where the good one left it."""
    assert _produce(broker, topic, build_batch([Record(None, b"good")])).error_code == ErrorCode.NONE  # type: ignore[attr-defined]
    before = _high_watermark(broker, topic)
    answer = _produce(broker, topic, batch)
    assert answer.error_code == code, answer  # type: ignore[attr-defined]
    assert answer.base_offset == -1  # type: ignore[attr-defined]
    assert _high_watermark(broker, topic) == before
    return answer


BAD_BATCHES = {
    "garbage records section": (_batch(b"\xff\x13\x00garbage" * 4, 1), ErrorCode.CORRUPT_MESSAGE),
    "record count above the records": (_batch(_plain_record(0), 5), ErrorCode.INVALID_RECORD),
    "record count below the records": (_batch(_plain_record(0) + _plain_record(1), 1), ErrorCode.INVALID_RECORD),
    "lastOffsetDelta above the count": (_batch(_plain_record(0), 1, 10**9), ErrorCode.INVALID_RECORD),
    "offset deltas out of order": (_batch(_plain_record(1) + _plain_record(0), 2), ErrorCode.INVALID_RECORD),
    "offset delta skipping one": (_batch(_plain_record(0) + _plain_record(2), 2), ErrorCode.INVALID_RECORD),
    "truncated varint": (_batch(_record(b"\x00\x00\x00\x01\x80"), 1), ErrorCode.CORRUPT_MESSAGE),
    "over-long varint": (_batch(_record(b"\x00" + b"\xff" * 11 + b"\x00\x01\x02v\x00"), 1), ErrorCode.CORRUPT_MESSAGE),
    "record length beyond the batch": (_batch(_varint(500) + _plain_record(0)[1:], 1), ErrorCode.CORRUPT_MESSAGE),
    "value beyond its record": (_batch(_record(b"\x00\x00\x00\x01\x50v\x00"), 1), ErrorCode.CORRUPT_MESSAGE),
    "header count above the headers": (
        _batch(_plain_record(0, headers=_varint(2) + _varint(1) + b"h" + _varint(1) + b"x"), 1),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "negative header key length": (
        _batch(_plain_record(0, headers=_varint(1) + _varint(-3) + _varint(1) + b"x"), 1),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "bytes left inside a record": (_batch(_plain_record(0, headers=b"\x00junk"), 1), ErrorCode.CORRUPT_MESSAGE),
    "zstd payload that does not decompress": (
        _batch(b"\x28\xb5\x2f\xfd" + b"\x00" * 40, 1, codec=Compression.ZSTD),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "gzip payload cut short": (
        _batch(Compression.GZIP.compress(_plain_record(0, b"v" * 1000))[:-20], 1, codec=Compression.GZIP),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "lz4 payload of garbage": (_batch(b"\x04\x22\x4d\x18garbage", 1, codec=Compression.LZ4), ErrorCode.CORRUPT_MESSAGE),
    "snappy block of garbage": (
        _batch(b"\xff\xff\xff\xff\x0f", 1, codec=Compression.SNAPPY),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "compressed records that are garbage": (
        _batch(Compression.ZSTD.compress(b"\x00" * 64), 1, codec=Compression.ZSTD),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "compressed records fewer than the count": (
        _batch(Compression.LZ4.compress(_plain_record(0)), 3, codec=Compression.LZ4),
        ErrorCode.INVALID_RECORD,
    ),
}


def _magic_1() -> bytes:
    batch = bytearray(build_batch([Record(None, b"v")]))
    batch[16] = 1
    struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[21:]))
    return bytes(batch)


BAD_BATCHES["magic 1"] = (_magic_1(), ErrorCode.INVALID_RECORD)


@pytest.mark.e2e
def test_zstd_before_produce_v7_gets_unsupported_compression_type(broker: BrokerProcess) -> None:
    batch = build_batch([Record(None, b"v")], compression=Compression.ZSTD)
    with WireClient(broker.bootstrap) as client:
        old = client.request(PRODUCE, 6, produce_body("zstd-v6", batch)).responses[0].partition_responses[0]
        assert old.error_code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        new = client.request(PRODUCE, 7, produce_body("zstd-v6", batch)).responses[0].partition_responses[0]
        assert new.error_code == ErrorCode.NONE


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(BAD_BATCHES))
def test_a_batch_whose_records_are_wrong_is_refused_and_not_stored(broker: BrokerProcess, name: str) -> None:
    batch, code = BAD_BATCHES[name]
    _refused(broker, "bad-batch-" + name.replace(" ", "-"), batch, code)


def _bomb_pieces(size: int) -> Iterator[bytes]:
    """One record whose value is `size` zero bytes, as pieces of its records section."""
    value_header = b"\x00\x00\x00\x01" + _varint(size)
    yield _varint(len(value_header) + size + 1) + value_header
    for _ in range(size // len(ZEROS)):
        yield ZEROS
    yield b"\x00"  # no headers


def _zstd_bomb(size: int) -> bytes:
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(compressor.compress(piece) for piece in _bomb_pieces(size)) + compressor.flush()


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, wbits=31)
    return b"".join(compressor.compress(piece) for piece in _bomb_pieces(size)) + compressor.flush()


@pytest.mark.e2e
@pytest.mark.parametrize(("codec", "make"), [(Compression.ZSTD, _zstd_bomb), (Compression.GZIP, _gzip_bomb)])
def test_a_decompression_bomb_is_refused_with_corrupt_message(broker: BrokerProcess, codec: Compression, make) -> None:  # type: ignore[no-untyped-def]
    bomb = _batch(make(BOMB_BYTES), 1, codec=codec)
    assert len(bomb) < 1024 * 1024  # within max.message.bytes: only the bound on decompression stops it
    answer = _refused(broker, f"bomb-{codec.name.lower()}", bomb, ErrorCode.CORRUPT_MESSAGE)
    assert "decompress to more than" in answer.error_message  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_a_bomb_to_a_compacted_topic_is_refused_with_corrupt_message(broker: BrokerProcess) -> None:
    topic = "bomb-compacted"
    _create_topic(broker, topic, {"cleanup.policy": "compact"})
    keyed = build_batch([Record(b"k", b"good")])
    assert _produce(broker, topic, keyed).error_code == ErrorCode.NONE  # type: ignore[attr-defined]
    answer = _produce(broker, topic, _batch(_zstd_bomb(BOMB_BYTES), 1, codec=Compression.ZSTD))
    assert answer.error_code == ErrorCode.CORRUPT_MESSAGE  # type: ignore[attr-defined]
    assert "decompress to more than" in answer.error_message  # type: ignore[attr-defined]
    assert _high_watermark(broker, topic) == 1


@pytest.mark.e2e
def test_other_connections_are_served_while_bombs_are_validated(broker: BrokerProcess) -> None:
    bomb = _batch(_gzip_bomb(BOMB_BYTES), 1, codec=Compression.GZIP)
    pipelined = 4
    with WireClient(broker.bootstrap) as bomber, WireClient(broker.bootstrap) as bystander:
        for correlation_id in range(pipelined):
            bomber.send_raw(wire.encode_request(PRODUCE, 9, correlation_id, "bomber", produce_body("bombed", bomb)))
        versions = bystander.request(
            API_VERSIONS, 3, API_VERSIONS.Request(client_software_name="t", client_software_version="1")
        )
        assert versions.error_code == ErrorCode.NONE
        # The bystander was answered while the bombs were still being refused: the bomber's last answer is to come.
        bomber.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            bomber.sock.recv(1 << 20)
        bomber.sock.setblocking(True)
        answers = [wire.decode_response(PRODUCE, 9, bomber.receive_frame())[1] for _ in range(pipelined)]
        assert [a.responses[0].partition_responses[0].error_code for a in answers] == [ErrorCode.CORRUPT_MESSAGE] * 4


def _create_topic(broker: BrokerProcess, topic: str, configs: dict[str, str]) -> None:
    creatable = CREATE_TOPICS.Request.CreatableTopic
    request = CREATE_TOPICS.Request(
        topics=[
            creatable(
                name=topic,
                num_partitions=1,
                replication_factor=1,
                configs=[creatable.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()],
            )
        ],
        timeout_ms=10_000,
    )
    with WireClient(broker.bootstrap) as client:
        assert client.request(CREATE_TOPICS, 5, request).topics[0].error_code == ErrorCode.NONE


@pytest.mark.e2e
def test_timestamps_before_or_after_the_topics_bounds_get_invalid_timestamp(broker: BrokerProcess) -> None:
    topic = "timestamp-bounds"
    _create_topic(broker, topic, {"message.timestamp.before.max.ms": "60000"})
    now = int(time.time() * 1000)
    too_old = build_batch([Record(None, b"a", timestamp=now), Record(None, b"b", timestamp=now - 3_600_000)])
    answer = _refused(broker, topic, too_old, ErrorCode.INVALID_TIMESTAMP)
    assert [e.batch_index for e in answer.record_errors] == [1]  # type: ignore[attr-defined]
    # message.timestamp.after.max.ms: Kafka 4's default of one hour.
    too_new = build_batch([Record(None, b"c", timestamp=now + 2 * 3_600_000)])
    answer = _refused(broker, topic, too_new, ErrorCode.INVALID_TIMESTAMP)
    assert [e.batch_index for e in answer.record_errors] == [0]  # type: ignore[attr-defined]
    assert "out of range" in answer.record_errors[0].batch_index_error_message  # type: ignore[attr-defined]
    # Inside both bounds, and -1 (no timestamp), are accepted.
    fine = build_batch([Record(None, b"d", timestamp=now - 30_000), Record(None, b"e", timestamp=-1)])
    assert _produce(broker, topic, fine).error_code == ErrorCode.NONE  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_the_deprecated_timestamp_difference_bounds_both_sides_unless_one_is_set(broker: BrokerProcess) -> None:
    topic = "timestamp-difference"
    # Removed by Kafka 4 but accepted on topics that set it: it stands for before/after.max.ms not set.
    _create_topic(
        broker, topic, {"message.timestamp.difference.max.ms": "60000", "message.timestamp.after.max.ms": "600000"}
    )
    now = int(time.time() * 1000)
    too_old = build_batch([Record(None, b"a", timestamp=now - 120_000)])
    _refused(broker, topic, too_old, ErrorCode.INVALID_TIMESTAMP)
    later = build_batch([Record(None, b"b", timestamp=now + 120_000)])  # within after.max.ms, set on the topic
    assert _produce(broker, topic, later).error_code == ErrorCode.NONE  # type: ignore[attr-defined]
