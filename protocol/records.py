"""Record batches, magic v2: walk, validate, patch, read and build them, sans I/O.

A batch is a 61-byte header (`BATCH_HEADER`) followed by its records, compressed as a
whole when the batch says so. `batchLength` counts the bytes after itself, so a batch
takes `batch_length + 12` bytes; the CRC-32C covers everything from `attributes` on,
which leaves `baseOffset` and `partitionLeaderEpoch` free to patch in place.
"""

from __future__ import annotations

import enum
import gzip
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

import cramjam
import crc32c
import lz4.frame
import zstandard

from streamhouse.protocol.errors import EncodeError, ProtocolError

BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = BATCH_HEADER.size
LOG_OVERHEAD = 12  # baseOffset and batchLength, not counted in batchLength
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD
MAGIC = 2

# Positions within a batch.
_BATCH_LENGTH_AT = 8
_LEADER_EPOCH_AT = 12
_MAGIC_AT = 16
_CRC_AT = 17
_ATTRIBUTES_AT = 21  # first byte the CRC covers
_MAX_TIMESTAMP_AT = 35

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20

MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
"""Default bound on a batch's decompressed records.

Far above any batch a client builds (producers cap batches near 1 MiB compressed) yet low
enough that a decompression bomb cannot exhaust memory; above it decompression raises
ProtocolError (zstd may overshoot it by one input step, at most ~32 MiB, before noticing).
The broker validates produced batches against its own bound (--max-uncompressed-batch-bytes).
"""


class Compression(enum.IntEnum):
    """The codec in a batch's attributes (bits 0-2)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        """The records section compressed the way Kafka's Java producer does it."""
        return _COMPRESSORS[self](data)

    def decompress(self, data: bytes | bytearray | memoryview, *, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
        """Compressed records back to plain bytes; ProtocolError for bad data or output above `limit` bytes."""
        return b"".join(iter_decompressed(self, data, limit=limit))


class TimestampType(enum.IntEnum):
    """Attributes bit 3: who set the timestamps."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class CorruptBatchError(ProtocolError):
    """A batch whose CRC-32C does not match its bytes (the broker answers CORRUPT_MESSAGE)."""


class InvalidRecordError(ProtocolError):
    """A batch that reads well but breaks a rule of Kafka's log validator, such as a record count
    that disagrees with its offsets (the broker answers INVALID_RECORD, as Kafka does)."""


class BatchHeader(NamedTuple):
    """The 61-byte header of a record batch, fields in wire order."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & _COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        return TimestampType.LOG_APPEND_TIME if self.attributes & _TIMESTAMP_TYPE_BIT else TimestampType.CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def size(self) -> int:
        """Bytes the whole batch takes, header included."""
        return self.batch_length + LOG_OVERHEAD


@dataclass(frozen=True, slots=True)
class Record:
    """A record to put in a batch: `timestamp` None takes the batch's base timestamp, `offset_delta` None its index."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int | None = None
    offset_delta: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRecord(Record):
    """A record read from a batch, with its absolute offset and timestamp (ms)."""

    timestamp: int
    offset_delta: int
    offset: int
    attributes: int = 0


def iter_batches(
    buf: bytes | bytearray | memoryview, *, verify_crc: bool = True, allow_partial_tail: bool = False
) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Each batch in `buf` with a zero-copy view of its bytes, validated before it is yielded.

    Raises ProtocolError for a malformed batch and CorruptBatchError for a CRC mismatch. A
    batch cut short at the end of `buf` (fetch responses may end so) is skipped silently when
    `allow_partial_tail`, otherwise it is a ProtocolError.
    """
    view = memoryview(buf).cast("B")
    end = len(view)
    pos = 0
    while pos < end:
        left = end - pos
        if left < LOG_OVERHEAD:
            if allow_partial_tail:
                return
            raise ProtocolError(f"batch at {pos}: {left} bytes, too short for a batch header")
        (batch_length,) = _INT32.unpack_from(view, pos + _BATCH_LENGTH_AT)
        if batch_length < MIN_BATCH_LENGTH:
            raise ProtocolError(f"batch at {pos}: batchLength {batch_length} is below {MIN_BATCH_LENGTH}")
        size = batch_length + LOG_OVERHEAD
        if size > left:
            if allow_partial_tail:
                return
            raise ProtocolError(f"batch at {pos}: batchLength {batch_length} runs past the {left} bytes left")
        header = BatchHeader._make(BATCH_HEADER.unpack_from(view, pos))
        if header.magic != MAGIC:
            raise InvalidRecordError(f"batch at {pos}: magic {header.magic}, only magic {MAGIC} is supported")
        batch = view[pos : pos + size]
        # The CRC goes before the other checks: a damaged batch is reported as such.
        if verify_crc:
            crc = crc32c.crc32c(batch[_ATTRIBUTES_AT:])
            if crc != header.crc:
                raise CorruptBatchError(f"batch at {pos}: CRC-32C is {crc:#010x}, the batch says {header.crc:#010x}")
        _check_header(header, pos)
        yield header, batch
        pos += size


def _check_header(header: BatchHeader, pos: int) -> None:
    codec = header.attributes & _COMPRESSION_MASK
    if codec not in _STREAMS:
        raise ProtocolError(f"batch at {pos}: unknown compression codec {codec}")
    if header.last_offset_delta < 0:
        raise InvalidRecordError(f"batch at {pos}: negative lastOffsetDelta {header.last_offset_delta}")
    if not 0 <= header.records_count <= header.last_offset_delta + 1:
        raise InvalidRecordError(
            f"batch at {pos}: {header.records_count} records for lastOffsetDelta {header.last_offset_delta}"
        )


def iter_records(
    header: BatchHeader, batch: bytes | bytearray | memoryview, *, limit: int = MAX_DECOMPRESSED_BYTES
) -> Iterator[StoredRecord]:
    """The records of one batch as `iter_batches` yields it (header and bytes), decompressed as needed.

    Timestamps are absolute: the batch's max timestamp for every record of a LogAppendTime
    batch, as Kafka's clients read them. Malformed records raise ProtocolError.
    """
    section = memoryview(batch).cast("B")[HEADER_SIZE : header.size]
    data = header.compression.decompress(section, limit=limit)
    append_time = header.max_timestamp if header.timestamp_type is TimestampType.LOG_APPEND_TIME else None
    end = len(data)
    pos = 0
    for index in range(header.records_count):
        length, pos = _read_varint(data, pos, end)
        if not 0 < length <= end - pos:
            raise ProtocolError(f"record {index}: length {length} with {end - pos} bytes left")
        record_end = pos + length
        attributes = data[pos]
        timestamp_delta, pos = _read_varlong(data, pos + 1, record_end)
        offset_delta, pos = _read_varint(data, pos, record_end)
        key, pos = _read_nullable_bytes(data, pos, record_end)
        value, pos = _read_nullable_bytes(data, pos, record_end)
        headers, pos = _read_headers(data, pos, record_end)
        if pos != record_end:
            raise ProtocolError(f"record {index}: {record_end - pos} bytes left over inside the record")
        yield StoredRecord(
            key=key,
            value=value,
            headers=headers,
            timestamp=header.base_timestamp + timestamp_delta if append_time is None else append_time,
            offset_delta=offset_delta,
            offset=header.base_offset + offset_delta,
            attributes=attributes - 256 if attributes > 127 else attributes,
        )
    if pos != end:
        raise ProtocolError(f"{end - pos} bytes left after the batch's {header.records_count} records")


def _read_headers(data: bytes, pos: int, end: int) -> tuple[list[tuple[str, bytes | None]], int]:
    count, pos = _read_varint(data, pos, end)
    if count < 0:
        raise ProtocolError(f"negative header count {count}")
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        key_length, pos = _read_varint(data, pos, end)
        if not 0 <= key_length <= end - pos:
            raise ProtocolError(f"header key length {key_length} with {end - pos} bytes left")
        try:
            key = data[pos : pos + key_length].decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"header key is not UTF-8: {exc}") from exc
        value, pos = _read_nullable_bytes(data, pos + key_length, end)
        headers.append((key, value))
    return headers, pos


def _read_nullable_bytes(data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = _read_varint(data, pos, end)
    if length == -1:
        return None, pos
    if not 0 <= length <= end - pos:
        raise ProtocolError(f"length {length} with {end - pos} bytes left")
    return data[pos : pos + length], pos + length


def _read_zigzag(data: bytes, pos: int, end: int, max_bytes: int, bits: int) -> tuple[int, int]:
    raw = 0
    shift = 0
    for at in range(pos, min(end, pos + max_bytes)):
        byte = data[at]
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            if raw >> bits:
                raise ProtocolError(f"varint value above {bits} bits")
            return (raw >> 1) ^ -(raw & 1), at + 1
        shift += 7
    if end - pos < max_bytes:
        raise ProtocolError("varint is truncated")
    raise ProtocolError(f"varint longer than {max_bytes} bytes")


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A zigzag int32 of at most 5 bytes at `pos`: (value, position after it)."""
    if pos < end and data[pos] < 0x80:  # one byte: most lengths and deltas
        byte = data[pos]
        return (byte >> 1) ^ -(byte & 1), pos + 1
    return _read_zigzag(data, pos, end, 5, 32)


def _read_varlong(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A zigzag int64 of at most 10 bytes at `pos`: (value, position after it)."""
    return _read_zigzag(data, pos, end, 10, 64)


def _zigzag(value: int, bits: int) -> bytes:
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise EncodeError(f"{value} does not fit a {bits}-bit varint")
    raw = value << 1 if value >= 0 else (-value << 1) - 1
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def _nullable_bytes(value: bytes | None) -> bytes:
    return b"\x01" if value is None else _zigzag(len(value), 32) + value


def _encode_record(record: Record, offset_delta: int, timestamp_delta: int) -> bytes:
    parts = [
        b"\x00",  # attributes: unused by magic 2
        _zigzag(timestamp_delta, 64),
        _zigzag(offset_delta, 32),
        _nullable_bytes(record.key),
        _nullable_bytes(record.value),
        _zigzag(len(record.headers), 32),
    ]
    for key, value in record.headers:
        parts += (_nullable_bytes(key.encode()), _nullable_bytes(value))
    body = b"".join(parts)
    return _zigzag(len(body), 32) + body


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    base_timestamp: int | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    is_transactional: bool = False,
    is_control: bool = False,
    last_offset_delta: int | None = None,
) -> bytes:
    """One magic-2 batch of `records`, with a valid CRC.

    `base_timestamp` defaults to the earliest record timestamp, or now when no record has
    one; records without a timestamp take the base timestamp. Offset deltas default to the
    records' positions and must increase. `last_offset_delta` defaults to the last record's;
    a larger one keeps the offsets of records removed at the end (Kafka's cleaner does so).
    Raises EncodeError for what a batch cannot carry.
    """
    if not records:
        raise EncodeError("a record batch needs at least one record")
    if base_timestamp is None:
        stamped = [record.timestamp for record in records if record.timestamp is not None]
        base_timestamp = min(stamped) if stamped else time.time_ns() // 1_000_000
    timestamps = [base_timestamp if record.timestamp is None else record.timestamp for record in records]
    deltas = [index if record.offset_delta is None else record.offset_delta for index, record in enumerate(records)]
    if deltas[0] < 0 or any(later <= earlier for earlier, later in pairwise(deltas)):
        raise EncodeError(f"offset deltas must be non-negative and increasing: {deltas}")
    if last_offset_delta is None:
        last_offset_delta = deltas[-1]
    elif last_offset_delta < deltas[-1]:
        raise EncodeError(f"last offset delta {last_offset_delta} is below the last record's {deltas[-1]}")
    body = b"".join(
        _encode_record(record, delta, timestamp - base_timestamp)
        for record, delta, timestamp in zip(records, deltas, timestamps, strict=True)
    )
    payload = compression.compress(body)
    attributes = (
        compression
        | (timestamp_type << 3)
        | (_TRANSACTIONAL_BIT if is_transactional else 0)
        | (_CONTROL_BIT if is_control else 0)
    )
    try:
        header = BATCH_HEADER.pack(
            base_offset,
            MIN_BATCH_LENGTH + len(payload),
            partition_leader_epoch,
            MAGIC,
            0,  # CRC, set below
            attributes,
            last_offset_delta,
            base_timestamp,
            max(timestamps),
            producer_id,
            producer_epoch,
            base_sequence,
            len(records),
        )
    except struct.error as exc:
        raise EncodeError(f"batch header field out of range: {exc}") from exc
    batch = bytearray(header + payload)
    _UINT32.pack_into(batch, _CRC_AT, crc32c.crc32c(memoryview(batch)[_ATTRIBUTES_AT:]))
    return bytes(batch)


def build_marker_batch(commit: bool, producer_id: int, producer_epoch: int, coordinator_epoch: int = 0) -> bytes:
    """A transaction marker: a control batch of one record, its key the version (0) and the type
    (0 abort, 1 commit), its value the version (0) and the coordinator's epoch."""
    record = Record(key=struct.pack(">hh", 0, 1 if commit else 0), value=struct.pack(">hi", 0, coordinator_epoch))
    return build_batch(
        [record], producer_id=producer_id, producer_epoch=producer_epoch, is_transactional=True, is_control=True
    )


def with_offsets(data: bytes | bytearray | memoryview, base_offset: int, leader_epoch: int) -> bytes:
    """A copy of whole batches with base offsets assigned from `base_offset` on and `leader_epoch` set.

    Both fields lie outside the CRC, which stays valid. The bytes are copied once: a join of the
    unchanged ranges around the two new fields.
    """
    epoch = _INT32.pack(leader_epoch)
    view = memoryview(data).cast("B")
    size = len(view)
    if (
        size >= HEADER_SIZE
        and view[_MAGIC_AT] == MAGIC
        and _INT32.unpack_from(view, _BATCH_LENGTH_AT)[0] == size - LOG_OVERHEAD
    ):
        return b"".join(_patched(view, base_offset, epoch))  # one batch, as each append is: no header parse
    pieces: list[bytes | memoryview] = []
    offset = base_offset
    for header, batch in iter_batches(view, verify_crc=False):
        pieces += _patched(batch, offset, epoch)
        offset += header.last_offset_delta + 1
    return b"".join(pieces)


def _patched(batch: memoryview, base_offset: int, epoch: bytes) -> tuple[bytes | memoryview, ...]:
    """One batch as pieces to join: the new base offset and leader epoch around its unchanged bytes."""
    return _INT64.pack(base_offset), batch[_BATCH_LENGTH_AT:_LEADER_EPOCH_AT], epoch, batch[_LEADER_EPOCH_AT + 4 :]


def set_log_append_time(batch: bytes | bytearray | memoryview, timestamp: int) -> tuple[bytes, BatchHeader]:
    """A copy of one batch stamped as LogAppendTime at `timestamp` (ms), CRC recomputed, and its new header.

    As Kafka does it: the timestamp-type bit and the max timestamp change, the records do not.
    """
    patched = bytearray(batch)
    header = BatchHeader._make(BATCH_HEADER.unpack_from(patched))
    attributes = header.attributes | _TIMESTAMP_TYPE_BIT
    _INT16.pack_into(patched, _ATTRIBUTES_AT, attributes)
    _INT64.pack_into(patched, _MAX_TIMESTAMP_AT, timestamp)
    crc = crc32c.crc32c(memoryview(patched)[_ATTRIBUTES_AT:])
    _UINT32.pack_into(patched, _CRC_AT, crc)
    return bytes(patched), header._replace(crc=crc, attributes=attributes, max_timestamp=timestamp)


def _too_large(limit: int) -> ProtocolError:
    return ProtocolError(f"records decompress to more than {limit} bytes")


def iter_decompressed(
    compression: Compression, data: bytes | bytearray | memoryview, *, limit: int = MAX_DECOMPRESSED_BYTES
) -> Iterator[bytes]:
    """Compressed records as a stream of plain pieces, each of at most about `DECOMPRESS_PIECE` bytes.

    ProtocolError for bad data, and as soon as the pieces add up to more than `limit` bytes: a
    decompression bomb costs the reader `limit` bytes of work and one piece of memory, never its size.
    """
    total = 0
    for piece in _STREAMS[compression](memoryview(data).cast("B"), limit):
        total += len(piece)
        if total > limit:
            raise _too_large(limit)
        yield piece


DECOMPRESS_PIECE = 1024 * 1024
"""Largest piece a stream asks its decompressor for (zstd may give up to ~32 MiB: see _ZSTD_STEP)."""


def _gzip_compress(data: bytes | bytearray | memoryview) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)  # level 6: Java's Deflater default


def _gzip_stream(data: memoryview, limit: int) -> Iterator[bytes]:
    rest: bytes | memoryview = data
    try:
        while True:  # one gzip member per turn
            inflater = zlib.decompressobj(wbits=31)
            piece = inflater.decompress(rest, DECOMPRESS_PIECE)
            while piece:
                yield piece
                piece = inflater.decompress(inflater.unconsumed_tail, DECOMPRESS_PIECE)
            if not inflater.eof:
                raise ProtocolError("gzip data is truncated")
            rest = inflater.unused_data
            if not rest:
                return
    except zlib.error as exc:
        raise ProtocolError(f"gzip: {exc}") from exc


# Kafka's Java producer frames snappy as xerial's SnappyOutputStream does: this header,
# then blocks of (int32 length, raw snappy) each holding up to 32 KiB of input.
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)  # version, compatible version
_XERIAL_BLOCK = 32 * 1024


def _snappy_compress(data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data).cast("B")
    parts = [_XERIAL_HEADER]
    for start in range(0, len(view), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK]))
        parts += (_INT32.pack(len(block)), block)
    return b"".join(parts)


def _snappy_stream(view: memoryview, limit: int) -> Iterator[bytes]:
    """Xerial-framed snappy (Java clients), a block at a time, or a raw snappy block (some librdkafka versions)."""
    if view[: len(_XERIAL_MAGIC)] != _XERIAL_MAGIC:
        yield _snappy_raw(view, limit, limit)
        return
    if len(view) < len(_XERIAL_HEADER):
        raise ProtocolError("xerial snappy header is truncated")
    total = 0
    pos = len(_XERIAL_HEADER)
    while pos < len(view):
        if len(view) - pos < 4:
            raise ProtocolError("xerial snappy block length is truncated")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if not 0 <= length <= len(view) - pos:
            raise ProtocolError(f"xerial snappy block of {length} bytes with {len(view) - pos} left")
        block = _snappy_raw(view[pos : pos + length], limit - total, limit)
        total += len(block)
        yield block
        pos += length


def _snappy_raw(block: memoryview, room: int, limit: int) -> bytes:
    """One raw block, refused before it is decompressed when it would take more than the `room` left of `limit`."""
    try:
        # The block's preamble states its decompressed length: check it before allocating.
        if cramjam.snappy.decompress_raw_len(block) > room:
            raise _too_large(limit)
        return bytes(cramjam.snappy.decompress_raw(block))
    except cramjam.DecompressionError as exc:
        raise ProtocolError(f"snappy: {exc}") from exc


def _lz4_compress(data: bytes | bytearray | memoryview) -> bytes:
    # Kafka's Java reader rejects linked blocks; it writes 64 KiB blocks and no content size.
    frame: bytes = lz4.frame.compress(
        data, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=False, store_size=False
    )
    return frame


def _lz4_stream(data: memoryview, limit: int) -> Iterator[bytes]:
    rest = bytes(data)
    try:
        while True:  # one frame per turn
            decompressor = lz4.frame.LZ4FrameDecompressor()
            piece = decompressor.decompress(rest, max_length=DECOMPRESS_PIECE)
            while piece:
                yield piece
                if decompressor.eof or decompressor.needs_input:
                    break
                piece = decompressor.decompress(b"", max_length=DECOMPRESS_PIECE)
            if not decompressor.eof:
                raise ProtocolError("lz4 frame is truncated")
            rest = decompressor.unused_data
            if not rest:
                return
    except RuntimeError as exc:
        raise ProtocolError(f"lz4: {exc}") from exc


def _zstd_compress(data: bytes | bytearray | memoryview) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


# zstandard's streaming object has no output bound per call (and its bounded reader does not
# notice a truncated frame), so input goes in small steps: one step of RLE blocks expands at
# most ~32 MiB before the bound is checked.
_ZSTD_STEP = 1024


def _zstd_stream(data: memoryview, limit: int) -> Iterator[bytes]:
    """Streaming, so frames without a content size (librdkafka, zstd-jni streams) decode too."""
    rest = bytes(data)
    context = zstandard.ZstdDecompressor()
    try:
        while True:  # one frame per turn
            frame = context.decompressobj()
            for start in range(0, len(rest), _ZSTD_STEP):
                piece = frame.decompress(rest[start : start + _ZSTD_STEP])
                if piece:
                    yield piece
                if frame.eof:
                    rest = frame.unused_data + rest[start + _ZSTD_STEP :]
                    break
            else:
                raise ProtocolError("zstd frame is truncated")
            if not rest:
                return
    except zstandard.ZstdError as exc:
        raise ProtocolError(f"zstd: {exc}") from exc


def _no_decompress(data: memoryview, limit: int) -> Iterator[bytes]:
    yield bytes(data)


_COMPRESSORS: dict[Compression, Callable[[bytes | bytearray | memoryview], bytes]] = {
    Compression.NONE: bytes,
    Compression.GZIP: _gzip_compress,
    Compression.SNAPPY: _snappy_compress,
    Compression.LZ4: _lz4_compress,
    Compression.ZSTD: _zstd_compress,
}
_STREAMS: dict[int, Callable[[memoryview, int], Iterator[bytes]]] = {
    Compression.NONE: _no_decompress,
    Compression.GZIP: _gzip_stream,
    Compression.SNAPPY: _snappy_stream,
    Compression.LZ4: _lz4_stream,
    Compression.ZSTD: _zstd_stream,
}
