"""A client's record batch checked as Kafka's log validator checks it, before it is appended. Pure: no I/O, no clock.

`validate_batch` walks every record of a batch `iter_batches` has already read (header and
CRC), decompressing as a stream up to a bound, and raises:

- ProtocolError (the broker answers CORRUPT_MESSAGE) for bytes that do not read as records: a
  compressed payload that does not decompress or decompresses to more than the bound, a varint
  cut short or too long, a record, key, value or header running past its record or batch,
  bytes left inside a record;
- InvalidRecordError (INVALID_RECORD) for records that read but break Kafka's rules for what a
  client sends: a record count that is not lastOffsetDelta + 1 or not the records present,
  offset deltas other than 0, 1, 2... in order, a control batch, a producer id without a sequence.

It returns what the rules that depend on the topic need (`RecordSummary`: the records'
timestamps, whether some have no key); `record_errors` then names each record that breaks
those rules (timestamps out of the topic's bounds, no key on a compacted topic), as Kafka
lists them in a Produce response's record_errors.

The walk is `protocol._recordscan.scan`, a compiled helper, when it was built (`pip install .`
builds it), else `scan_records_py`, the same walk in Python (slower by two orders of magnitude).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NamedTuple, NoReturn

from streamhouse.protocol import records
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.primitives import Buffer, write_varint, write_varlong
from streamhouse.protocol.records import (
    HEADER_SIZE,
    BatchHeader,
    Compression,
    InvalidRecordError,
    TimestampType,
    iter_decompressed,
    iter_records,
)

NO_TIMESTAMP = -1
"""A record timestamp Kafka leaves unchecked."""

# Answers of a scan: records still to come, all read, or what is wrong.
SCAN_MORE = 0
SCAN_DONE = 1
SCAN_CORRUPT = 2
SCAN_INVALID = 3

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)

ScanResult = tuple[int, int, int, int, int, int, int, str | None]
"""(status, position reached, records read, least and greatest timestamp delta, records without a key,
bytes needed from the position for the next record when status is SCAN_MORE, what is wrong)."""


class RecordSummary(NamedTuple):
    """What one validated batch holds, for the checks that depend on the topic."""

    records: int
    min_timestamp: int
    max_timestamp: int
    keyless: int  # records without a key


class TimestampBounds(NamedTuple):
    """The CreateTime records a topic accepts, per message.timestamp.before.max.ms / after.max.ms."""

    earliest: int
    latest: int


def _read_varint(data: Buffer, pos: int, end: int, max_bytes: int, bits: int) -> tuple[int, int, int]:
    """(0 and the zigzag value and the position after it), or (1 truncated / 2 malformed, 0, pos)."""
    raw = 0
    shift = 0
    for at in range(pos, pos + max_bytes):
        if at >= end:
            return 1, 0, pos
        byte = data[at]
        part = byte & 0x7F
        if shift and shift + 7 > bits and part >> (bits - shift):
            return 2, 0, pos
        raw |= part << shift
        if byte < 0x80:
            return 0, (raw >> 1) ^ -(raw & 1), at + 1
        shift += 7
    return 2, 0, pos


class _BadRecordError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _varint(data: Buffer, pos: int, end: int, max_bytes: int = 5, bits: int = 32) -> tuple[int, int]:
    rc, value, pos = _read_varint(data, pos, end, max_bytes, bits)
    if rc:
        why = "varint runs past its record" if rc == 1 else "malformed varint in a record"
        raise _BadRecordError(SCAN_CORRUPT, why)
    return value, pos


def _skip_bytes(data: Buffer, pos: int, end: int, nullable: bool) -> tuple[bool, int]:
    """(whether null, position after) for a varint-prefixed byte string."""
    length, pos = _varint(data, pos, end)
    if length == -1 and nullable:
        return True, pos
    if not 0 <= length <= end - pos:
        raise _BadRecordError(SCAN_CORRUPT, "a key, value or header runs past its record")
    return False, pos + length


def _record_body(data: Buffer, pos: int, end: int, index: int) -> tuple[int, bool]:
    """One record's (timestamp delta, key is null) between `pos` and `end`; _BadRecordError when malformed."""
    pos += 1  # attributes: unused by magic 2
    timestamp_delta, pos = _varint(data, pos, end, 10, 64)
    offset_delta, pos = _varint(data, pos, end)
    if offset_delta != index:
        raise _BadRecordError(SCAN_INVALID, "offset deltas are not 0, 1, 2... in order")
    keyless, pos = _skip_bytes(data, pos, end, nullable=True)
    _, pos = _skip_bytes(data, pos, end, nullable=True)
    headers, pos = _varint(data, pos, end)
    if headers < 0:
        raise _BadRecordError(SCAN_CORRUPT, "negative header count")
    for _ in range(headers):
        _, pos = _skip_bytes(data, pos, end, nullable=False)
        _, pos = _skip_bytes(data, pos, end, nullable=True)
    if pos != end:
        raise _BadRecordError(SCAN_CORRUPT, "bytes left over inside a record")
    return timestamp_delta, keyless


def scan_records_py(data: Buffer, pos: int, index: int, count: int, final: bool) -> ScanResult:
    """Records `index`.. of `count` from `pos` of `data` (the rest of the batch's records only when `final`).

    The reference the compiled `protocol._recordscan.scan` must agree with.
    """
    end = len(data)
    lowest, highest, keyless = _INT64_MAX, _INT64_MIN, 0
    while index < count:
        if pos == end and final:
            return SCAN_INVALID, pos, index, lowest, highest, keyless, 0, "fewer records than the batch's record count"
        rc, length, body = _read_varint(data, pos, end, 5, 32)
        if rc == 1 and not final:
            return SCAN_MORE, pos, index, lowest, highest, keyless, end - pos + 1, None
        if rc:
            why = "record length is truncated" if rc == 1 else "malformed record length"
            return SCAN_CORRUPT, pos, index, lowest, highest, keyless, 0, why
        if length <= 0:
            return SCAN_CORRUPT, pos, index, lowest, highest, keyless, 0, "record length is not positive"
        if length > end - body:
            if final:
                return SCAN_CORRUPT, pos, index, lowest, highest, keyless, 0, "record length runs past the batch"
            return SCAN_MORE, pos, index, lowest, highest, keyless, body - pos + length, None
        try:
            timestamp_delta, no_key = _record_body(data, body, body + length, index)
        except _BadRecordError as bad:
            return bad.status, pos, index, lowest, highest, keyless, 0, bad.message
        lowest = min(lowest, timestamp_delta)
        highest = max(highest, timestamp_delta)
        keyless += no_key
        index += 1
        pos = body + length
    return SCAN_DONE, pos, index, lowest, highest, keyless, 0, None


try:
    from streamhouse.protocol._recordscan import scan as _scan

    COMPILED = True
except ImportError:  # not built: the same walk in Python
    _scan = scan_records_py
    COMPILED = False


def check_client_header(header: BatchHeader) -> None:
    """The header rules of Kafka's validator for a client's batch (InvalidRecordError)."""
    if header.records_count <= 0:
        raise InvalidRecordError(f"invalid record count {header.records_count}")
    if header.last_offset_delta + 1 != header.records_count:
        raise InvalidRecordError(
            f"inconsistent batch: lastOffsetDelta {header.last_offset_delta} for {header.records_count} records"
        )
    if header.is_control:
        raise InvalidRecordError("clients are not allowed to write control records")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise InvalidRecordError(
            f"invalid sequence number {header.base_sequence} in a batch of producer {header.producer_id}"
        )


def validate_batch(header: BatchHeader, batch: Buffer, *, max_uncompressed: int) -> RecordSummary:
    """Every record of one batch walked (see the module's docstring for what it raises).

    `max_uncompressed` bounds the records section once decompressed; decompression stops past it.
    """
    check_client_header(header)
    count = header.records_count
    section = memoryview(batch).cast("B")[HEADER_SIZE : header.size]
    if header.compression is Compression.NONE:
        result = _scan(section, 0, 0, count, True)
        lowest, highest, keyless = _check(result)[3:6]
        if result[1] != len(section):
            raise InvalidRecordError(f"bytes left after the batch's {count} records")
    else:
        lowest, highest, keyless = _scan_stream(
            iter_decompressed(header.compression, section, limit=max_uncompressed), count
        )
    return RecordSummary(count, header.base_timestamp + lowest, header.base_timestamp + highest, keyless)


def _check(result: ScanResult) -> ScanResult:
    status, _, index, *_, message = result
    if status in (SCAN_CORRUPT, SCAN_INVALID):
        _refuse(status, index, message)
    return result


def _refuse(status: int, index: int, message: str | None) -> NoReturn:
    if status == SCAN_INVALID:
        raise InvalidRecordError(f"record {index}: {message}")
    raise ProtocolError(f"record {index}: {message}")


def _scan_stream(pieces: Iterator[bytes], count: int) -> tuple[int, int, int]:
    """(least and greatest timestamp delta, records without a key) of `count` records in decompressed pieces.

    A record cut between pieces waits, with the pieces after it, until all of it has come; one larger
    than a piece is read as it comes instead, its key and value skipped (`_large_record`).
    """
    lowest, highest, keyless = _INT64_MAX, _INT64_MIN, 0
    index = 0
    held: list[bytes] = []
    held_bytes = 0
    need = 0
    pieces = iter(pieces)
    for piece in pieces:
        if index == count:
            if piece:
                raise InvalidRecordError(f"bytes left after the batch's {count} records")
            continue
        held.append(piece)
        held_bytes += len(piece)
        if held_bytes < need:
            continue
        data = held[0] if len(held) == 1 else b"".join(held)
        status, pos, index, low, high, no_key, need, _ = _check(_scan(data, 0, index, count, False))
        lowest, highest, keyless = min(lowest, low), max(highest, high), keyless + no_key
        rest = data[pos:]
        if status == SCAN_MORE and need > records.DECOMPRESS_PIECE:
            cursor = _Cursor(rest, pieces)
            low, high, no_key = _large_record(cursor, index)
            lowest, highest, keyless = min(lowest, low), max(highest, high), keyless + no_key
            index, need, rest = index + 1, 0, cursor.rest()
            status = SCAN_DONE if index == count else SCAN_MORE
        if status == SCAN_DONE and rest:
            raise InvalidRecordError(f"bytes left after the batch's {count} records")
        held, held_bytes = ([rest], len(rest)) if rest else ([], 0)
    if index < count:
        data = b"".join(held)
        status, pos, index, low, high, no_key, _, _ = _check(_scan(data, 0, index, count, True))
        lowest, highest, keyless = min(lowest, low), max(highest, high), keyless + no_key
        if pos != len(data):
            raise InvalidRecordError(f"bytes left after the batch's {count} records")
    return lowest, highest, keyless


class _Cursor:
    """Bytes read forward from `start`, then from the pieces after it, pulled only as they are needed."""

    def __init__(self, start: bytes, pieces: Iterator[bytes]) -> None:
        self.data = start
        self.pos = 0
        self.pieces = pieces
        self.consumed = 0
        self.record_end: int | None = None  # in bytes consumed: where varints must end

    def _pull(self) -> None:
        """The bytes not read yet, and the next piece after them."""
        for piece in self.pieces:
            if piece:
                self.data, self.pos = self.data[self.pos :] + piece, 0
                return
        raise _BadRecordError(SCAN_CORRUPT, "record length runs past the batch")

    def varint(self, max_bytes: int = 5, bits: int = 32) -> int:
        while True:
            end = len(self.data)
            bounded = self.record_end is not None and self.record_end - self.consumed <= end - self.pos
            if self.record_end is not None:
                end = min(end, self.pos + self.record_end - self.consumed)
            rc, value, after = _read_varint(self.data, self.pos, end, max_bytes, bits)
            if rc == 0:
                self.consumed += after - self.pos
                self.pos = after
                return value
            if rc == 2:
                raise _BadRecordError(SCAN_CORRUPT, "malformed varint in a record")
            if bounded:
                raise _BadRecordError(SCAN_CORRUPT, "varint runs past its record")
            self._pull()

    def take(self, size: int, *, keep: bool = True) -> bytes:
        """The next `size` bytes; with `keep` False, passed over without being held (b"")."""
        self.consumed += size
        parts = []
        while len(self.data) - self.pos < size:
            size -= len(self.data) - self.pos
            if keep:
                parts.append(self.data[self.pos :])
            self.data, self.pos = b"", 0
            self._pull()
        if keep:
            parts.append(self.data[self.pos : self.pos + size])
        self.pos += size
        return b"".join(parts)

    def rest(self) -> bytes:
        return self.data[self.pos :]


def _large_record(cursor: _Cursor, index: int) -> tuple[int, int, int]:
    """Record `index`, larger than a piece, read from `cursor` with its key and value passed over, not held:
    (its timestamp delta twice, 1 when it has no key).

    Its headers, held, go through the same walk as any record's, in a record of their own with the
    record's timestamp and offset deltas and an empty value.
    """
    try:
        length = cursor.varint()
        start = cursor.consumed
        cursor.record_end = start + length
        cursor.take(1, keep=False)  # attributes: unused by magic 2
        timestamp_delta = cursor.varint(10, 64)
        offset_delta = cursor.varint()
        if offset_delta != index:
            raise _BadRecordError(SCAN_INVALID, "offset deltas are not 0, 1, 2... in order")
        lengths = []
        for _ in ("key", "value"):
            size = cursor.varint()
            if not -1 <= size <= length - (cursor.consumed - start):
                raise _BadRecordError(SCAN_CORRUPT, "a key, value or header runs past its record")
            cursor.take(max(size, 0), keep=False)
            lengths.append(size)
        headers = cursor.take(length - (cursor.consumed - start))
    except _BadRecordError as bad:
        if cursor.record_end is not None:  # as for a record read whole: one cut short is that, first
            try:
                cursor.take(cursor.record_end - cursor.consumed, keep=False)
            except _BadRecordError as short:
                _refuse(short.status, index, short.message)
        _refuse(bad.status, index, bad.message)
    body = io.BytesIO()
    body.write(b"\x00")
    write_varlong(body, timestamp_delta)
    write_varint(body, offset_delta)
    body.write(b"\x01" if lengths[0] == -1 else b"\x00")  # the key: null, or empty
    body.write(b"\x00")  # an empty value
    body.write(headers)
    record = io.BytesIO()
    write_varint(record, body.tell())
    record.write(body.getvalue())
    _, _, _, low, high, no_key, _, _ = _check(_scan(record.getvalue(), 0, index, index + 1, True))
    return low, high, no_key


def timestamp_bounds(now: int, before_max_ms: int, after_max_ms: int) -> TimestampBounds:
    """The CreateTime timestamps accepted at `now` (ms)."""
    return TimestampBounds(now - before_max_ms, now + after_max_ms)


def needs_record_errors(
    header: BatchHeader, summary: RecordSummary, *, compacted: bool, bounds: TimestampBounds | None
) -> bool:
    """Whether `record_errors` has something to name in this batch (it reads every record: call it only then)."""
    if compacted and summary.keyless:
        return True
    if header.timestamp_type is TimestampType.LOG_APPEND_TIME:
        return True  # a client may not stamp its batches LogAppendTime
    return bounds is not None and (summary.min_timestamp < bounds.earliest or summary.max_timestamp > bounds.latest)


def record_errors(
    header: BatchHeader,
    batch: Buffer,
    *,
    first_index: int,
    compacted: bool,
    bounds: TimestampBounds | None,
    max_uncompressed: int,
    keyless_why: str = "Compacted topic cannot accept message without key",
) -> tuple[list[tuple[int, str]], bool]:
    """Each record of a validated batch that a topic refuses, as (index counted from `first_index`, why),
    and whether one of them is refused for its timestamp (INVALID_TIMESTAMP rather than INVALID_RECORD).

    As Kafka's validator: no key on a compacted topic first, then a CreateTime topic's `bounds` (None for a
    LogAppendTime topic) for timestamps other than -1, then a batch the client stamped LogAppendTime.
    """
    errors: list[tuple[int, str]] = []
    timestamp_refused = False
    records = iter_records(header, batch, limit=max_uncompressed)
    for index, record in enumerate(records, first_index):
        if compacted and record.key is None:
            errors.append((index, keyless_why))
        elif header.timestamp_type is TimestampType.CREATE_TIME:
            stamp = record.timestamp
            if bounds is not None and stamp != NO_TIMESTAMP and not bounds.earliest <= stamp <= bounds.latest:
                timestamp_refused = True
                errors.append(
                    (
                        index,
                        f"Timestamp {record.timestamp} of message with offset {record.offset_delta} is out of range. "
                        f"The timestamp should be within [{bounds.earliest}, {bounds.latest}]",
                    )
                )
        else:
            timestamp_refused = True
            errors.append((index, "Producer should not set timestamp type to LogAppendTime."))
    return errors, timestamp_refused
