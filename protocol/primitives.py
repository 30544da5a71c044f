"""Kafka's primitive types as construct building blocks, bounded as Kafka bounds them.

Each building block has a plain reader and writer function over a binary stream; the
construct classes call them from `_parse`/`_build` and emit calls to them from
`_emitparse`/`_emitbuild`, so a compiled struct never falls back to a linked instance.
Readers raise `ProtocolError` on malformed input; fixed-width reads that come up short
raise `struct.error`, which the message entry points turn into `ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any
from uuid import UUID

import construct as c

from streamhouse.protocol.errors import EncodeError, ProtocolError

Stream = IO[bytes]

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
ZERO_UUID = UUID(int=0)

# Objects that generated code refers to by name (classes, defaults, element parsers).
# Compiled modules import this dict; keys are the ids used in the generated names.
LINKED: dict[int, Any] = {}


def link(code: Any, obj: Any, prefix: str) -> str:
    """Make `obj` visible to the generated module under a unique global name."""
    LINKED[id(obj)] = obj
    name = f"{prefix}_{id(obj)}"
    code.append("from streamhouse.protocol.primitives import LINKED")
    code.append(f"{name} = LINKED[{id(obj)}]")
    return name


def _read_exact(io: Stream, size: int) -> bytes:
    data = io.read(size)
    if len(data) != size:
        raise ProtocolError(f"needed {size} bytes, {len(data)} left")
    return data


def read_uvarint(io: Stream) -> int:
    """Unsigned varint of at most 5 bytes, value within 32 bits."""
    data = io.read(1)
    if data and data[0] < 0x80:  # one byte: nearly every length and count
        return data[0]
    result = 0
    shift = 0
    for index in range(5):
        if index:
            data = io.read(1)
        if not data:
            raise ProtocolError("truncated varint")
        byte = data[0]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result > 0xFFFFFFFF:
                raise ProtocolError("unsigned varint above 32 bits")
            return result
        shift += 7
    raise ProtocolError("unsigned varint longer than 5 bytes")


_ONE_BYTE = [bytes((value,)) for value in range(0x80)]


def write_uvarint(io: Stream, value: int) -> None:
    if 0 <= value < 0x80:  # one byte: nearly every length and count
        io.write(_ONE_BYTE[value])
        return
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(f"unsigned varint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    io.write(out)


def _read_zigzag(io: Stream, max_bytes: int, bits: int) -> int:
    raw = 0
    shift = 0
    for _ in range(max_bytes):
        data = io.read(1)
        if not data:
            raise ProtocolError("truncated varint")
        byte = data[0]
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            if raw >> bits:
                raise ProtocolError(f"varint above {bits} bits")
            return (raw >> 1) ^ -(raw & 1)
        shift += 7
    raise ProtocolError(f"varint longer than {max_bytes} bytes")


def _write_zigzag(io: Stream, value: int, bits: int) -> None:
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise EncodeError(f"varint out of range for {bits} bits: {value}")
    raw = ((value << 1) ^ (value >> (bits - 1))) & ((1 << bits) - 1)
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    io.write(out)


def read_varint(io: Stream) -> int:
    return _read_zigzag(io, 5, 32)


def write_varint(io: Stream, value: int) -> None:
    _write_zigzag(io, value, 32)


def read_varlong(io: Stream) -> int:
    return _read_zigzag(io, 10, 64)


def write_varlong(io: Stream, value: int) -> None:
    _write_zigzag(io, value, 64)


def read_bool(io: Stream) -> bool:
    data = _read_exact(io, 1)
    if data[0] > 1:
        raise ProtocolError(f"boolean byte {data[0]}")
    return data[0] == 1


def write_bool(io: Stream, value: bool) -> None:
    io.write(b"\x01" if value else b"\x00")


def read_uuid(io: Stream) -> UUID:
    return UUID(bytes=_read_exact(io, 16))


def write_uuid(io: Stream, value: UUID) -> None:
    io.write(value.bytes)


# Lengths: classic strings use int16, classic bytes and arrays int32, compact forms a
# uvarint of length + 1. -1 (or 0 in compact form) is null; other negatives are malformed.


def _read_length(io: Stream, compact: bool, wide: bool, nullable: bool) -> int:
    if compact:
        length = read_uvarint(io) - 1
    elif wide:
        length = _INT32.unpack(_read_exact(io, 4))[0]
    else:
        length = _INT16.unpack(_read_exact(io, 2))[0]
    if length < -1 or (length == -1 and not nullable):
        raise ProtocolError(f"invalid length {length}")
    return length


def _write_length(io: Stream, length: int, compact: bool, wide: bool) -> None:
    if compact:
        write_uvarint(io, length + 1)
    elif wide:
        io.write(_INT32.pack(length))
    else:
        if length > 0x7FFF:
            raise EncodeError(f"string of {length} bytes is too long")
        io.write(_INT16.pack(length))


def _read_data(io: Stream, compact: bool, wide: bool, nullable: bool) -> bytes | None:
    length = _read_length(io, compact, wide, nullable)
    if length == -1:
        return None
    return _read_exact(io, length)


def _write_data(io: Stream, data: bytes | memoryview | None, compact: bool, wide: bool, nullable: bool) -> None:
    if data is None:
        if not nullable:
            raise EncodeError("null in a non-nullable field")
        _write_length(io, -1, compact, wide)
        return
    _write_length(io, len(data), compact, wide)
    io.write(data)


def _string_reader(compact: bool, nullable: bool) -> Callable[[Stream], str | None]:
    def read(io: Stream) -> str | None:
        data = _read_data(io, compact, False, nullable)
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"string is not UTF-8: {exc}") from None

    return read


def _string_writer(compact: bool, nullable: bool) -> Callable[[Stream, str | None], None]:
    def write(io: Stream, value: str | None) -> None:
        _write_data(io, None if value is None else value.encode(), compact, False, nullable)

    def write_compact(io: Stream, value: str | None) -> None:
        if value is not None:
            data = value.encode()
            if len(data) < 0x7F:  # the common case, with no call per layer
                io.write(_ONE_BYTE[len(data) + 1])
                io.write(data)
                return
        write(io, value)

    return write_compact if compact else write


def _bytes_reader(compact: bool, nullable: bool) -> Callable[[Stream], bytes | None]:
    def read(io: Stream) -> bytes | None:
        return _read_data(io, compact, True, nullable)

    return read


def _bytes_writer(compact: bool, nullable: bool) -> Callable[[Stream, bytes | None], None]:
    def write(io: Stream, value: bytes | None) -> None:
        _write_data(io, value, compact, True, nullable)

    return write


Buffer = bytes | bytearray | memoryview  # bytes-like, written or stored by reference where it can be
# A record set, as a handler gives one to a response: one buffer, or its batches in pieces (the
# pieces of one partition's fetch answer as the log read them, written one after the other without
# being joined first).
RecordSet = Buffer | list[bytes]
# Pieces of a record set at least this large are kept by reference by a SplicingWriter.
SPLICE_MIN_BYTES = 4096


def record_set_pieces(value: RecordSet) -> Sequence[Buffer]:
    """A record set's pieces, in order: itself, unless it is a list of them."""
    return value if isinstance(value, list) else (value,)


class SplicingWriter(BytesIO):
    """A BytesIO that takes large record-set pieces by reference instead of copying them in.

    `parts()` gives the frame as buffers in order, ready for one vectored write (transport.writelines):
    the bytes written, cut where each spliced piece goes. A fetch answer's records are its bulk, and
    every copy of them costs CPU per byte served.
    """

    # No __init__: every response is written through one, and most splice nothing. The class's
    # empty list is never appended to: the first splice gives the instance a list of its own.
    spliced: list[tuple[int, Buffer]] = []  # (position among the bytes written, piece)

    def splice(self, piece: Buffer) -> None:
        if not self.spliced:
            self.spliced = []
        self.spliced.append((self.tell(), piece))

    def size(self) -> int:
        """The bytes written and spliced."""
        return self.tell() + sum(len(piece) for _, piece in self.spliced)

    def parts(self) -> list[Buffer]:
        """The whole stream, spliced pieces included, as buffers in order."""
        written = self.getvalue()
        if not self.spliced:
            return [written]
        view = memoryview(written)
        parts: list[Buffer] = []
        start = 0
        for position, piece in self.spliced:
            if position > start:
                parts.append(view[start:position])
            parts.append(piece)
            start = position
        if start < len(written):
            parts.append(view[start:])
        return parts


def _records_writer(compact: bool) -> Callable[[Stream, RecordSet | None], None]:
    def write(io: Stream, value: RecordSet | None) -> None:
        if value is None:
            _write_length(io, -1, compact, True)
            return
        pieces = record_set_pieces(value)
        _write_length(io, sum(map(len, pieces)), compact, True)
        for piece in pieces:
            if isinstance(io, SplicingWriter) and len(piece) >= SPLICE_MIN_BYTES:
                io.splice(piece)
            else:
                io.write(piece)

    return write


def _records_reader(compact: bool) -> Callable[[Stream], memoryview | None]:
    """Record batches stay opaque: a memoryview into the frame, no copy, no decode.

    A BytesIO made from a bytes object shares that object, and `getvalue()` returns it
    as is while nothing was written, so the slice points into the received frame.
    """

    def read(io: Stream) -> memoryview | None:
        length = _read_length(io, compact, True, True)
        if length == -1:
            return None
        start = io.tell()
        buffer = io.getvalue()  # type: ignore[attr-defined]
        if start + length > len(buffer):
            raise ProtocolError(f"records of {length} bytes, {len(buffer) - start} left")
        io.seek(start + length)
        return memoryview(buffer)[start : start + length]

    return read


def _array_length_reader(compact: bool, nullable: bool) -> Callable[[Stream], int]:
    def read(io: Stream) -> int:
        return _read_length(io, compact, True, nullable)

    return read


def _array_length_writer(compact: bool, nullable: bool) -> Callable[[Stream, list[Any] | None], None]:
    def write(io: Stream, items: list[Any] | None) -> None:
        if items is None:
            if not nullable:
                raise EncodeError("null in a non-nullable array")
            _write_length(io, -1, compact, True)
        else:
            _write_length(io, len(items), compact, True)

    def write_compact(io: Stream, items: list[Any] | None) -> None:
        if items is not None and len(items) < 0x7F:  # the common case, with no call per layer
            io.write(_ONE_BYTE[len(items) + 1])
        else:
            write(io, items)

    return write_compact if compact else write


def _variants(compact: bool, nullable: bool) -> str:
    return ("compact_" if compact else "") + ("nullable_" if nullable else "")


# Named readers and writers, importable by generated code.
READERS: dict[str, Callable[..., Any]] = {}
WRITERS: dict[str, Callable[..., Any]] = {}
for _compact in (False, True):
    for _nullable in (False, True):
        _v = _variants(_compact, _nullable)
        READERS[f"read_{_v}string"] = _string_reader(_compact, _nullable)
        WRITERS[f"write_{_v}string"] = _string_writer(_compact, _nullable)
        READERS[f"read_{_v}bytes"] = _bytes_reader(_compact, _nullable)
        WRITERS[f"write_{_v}bytes"] = _bytes_writer(_compact, _nullable)
        READERS[f"read_{_v}array_length"] = _array_length_reader(_compact, _nullable)
        WRITERS[f"write_{_v}array_length"] = _array_length_writer(_compact, _nullable)
    READERS[f"read_{_variants(_compact, True)}records"] = _records_reader(_compact)
    WRITERS[f"write_{_variants(_compact, True)}records"] = _records_writer(_compact)
for _reader in (read_uvarint, read_varint, read_varlong, read_bool, read_uuid):
    READERS[_reader.__name__] = _reader
for _writer in (write_uvarint, write_varint, write_varlong, write_bool, write_uuid):
    WRITERS[_writer.__name__] = _writer


def _import_line(name: str) -> str:
    table = "READERS" if name.startswith("read_") else "WRITERS"
    return f"from streamhouse.protocol.primitives import {table}\n{name} = {table}[{name!r}]"


class Primitive(c.Construct):  # type: ignore[misc]
    """A construct whose parse and build are one reader and one writer function."""

    def __init__(self, reader: str, writer: str) -> None:
        super().__init__()
        self.reader = reader
        self.writer = writer
        self.read = READERS[reader]
        self.write = WRITERS[writer]

    def _parse(self, stream: Stream, context: Any, path: str) -> Any:
        return self.read(stream)

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        self.write(stream, obj)
        return obj

    def _emitparse(self, code: Any) -> str:
        code.append(_import_line(self.reader))
        return f"{self.reader}(io)"

    def _emitbuild(self, code: Any) -> str:
        code.append(_import_line(self.writer))
        return f"({self.writer}(io, obj), obj)[1]"

    def __repr__(self) -> str:
        return f"Primitive({self.reader})"


class FixedWidth(c.Construct):  # type: ignore[misc]
    """A fixed-width big-endian number; one precompiled struct.Struct per format."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt
        self.packer = struct.Struct(fmt)

    def _parse(self, stream: Stream, context: Any, path: str) -> Any:
        return self.packer.unpack(stream.read(self.packer.size))[0]

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        stream.write(self.packer.pack(obj))
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return self.packer.size

    def _emitparse(self, code: Any) -> str:
        name = f"fixed_{self.fmt[1:]}"
        code.append(f"import struct\n{name} = struct.Struct({self.fmt!r})")
        return f"{name}.unpack(io.read({self.packer.size}))[0]"

    def _emitbuild(self, code: Any) -> str:
        name = f"fixed_{self.fmt[1:]}"
        code.append(f"import struct\n{name} = struct.Struct({self.fmt!r})")
        return f"(io.write({name}.pack(obj)), obj)[1]"


@dataclass(frozen=True, slots=True)
class EncodedElements:
    """The elements of a struct array already encoded, each at the version the whole is built at: a
    large answer kept encoded piece by piece, so that a change re-encodes only its own pieces."""

    count: int
    data: bytes

    def __len__(self) -> int:
        return self.count


class SelfCompiled(c.Construct):  # type: ignore[misc]
    """A construct that, used on its own rather than inside a compiled parent, compiles itself once."""

    def __init__(self) -> None:
        super().__init__()
        self._compiled: Any = None

    def _parse(self, stream: Stream, context: Any, path: str) -> Any:
        return self._compiled_self().parsefunc(stream, context)

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        return self._compiled_self().buildfunc(obj, stream, context)

    def _compiled_self(self) -> Any:
        if self._compiled is None:
            self._compiled = self.compile()
        return self._compiled


class Array(SelfCompiled):
    """A Kafka array (classic int32 count or compact uvarint count + 1), nullable or not."""

    def __init__(self, element: c.Construct, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.element = element
        self.length_reader = f"read_{_variants(compact, nullable)}array_length"
        self.length_writer = f"write_{_variants(compact, nullable)}array_length"

    def _emitparse(self, code: Any) -> str:
        name = f"parse_array_{code.allocateId()}"
        code.append(_import_line(self.length_reader))
        if isinstance(self.element, FixedWidth):  # one unpack for all the numbers
            kind, size = self.element.fmt[1:], self.element.packer.size
            items = f'list(struct.unpack(f">{{count}}{kind}", io.read(count * {size})))'
        else:
            items = f"[{self.element._compileparse(code)} for _ in range(count)]"
        code.append(
            f"""
            def {name}(io):
                count = {self.length_reader}(io)
                if count < 0:
                    return None
                return {items}
            """
        )
        return f"{name}(io)"

    def _emitbuild(self, code: Any) -> str:
        name = f"build_array_{code.allocateId()}"
        code.append(_import_line(self.length_writer))
        if isinstance(self.element, FixedWidth):  # one pack for all the numbers
            kind = self.element.fmt[1:]
            code.append(
                f"""
            def {name}(items, io):
                {self.length_writer}(io, items)
                if items:
                    io.write(struct.pack(f">{{len(items)}}{kind}", *items))
                return items
            """
            )
            return f"{name}(obj, io)"
        element = self.element._compilebuild(code)
        code.append("from streamhouse.protocol.primitives import EncodedElements")
        code.append(
            f"""
            def {name}(items, io):
                {self.length_writer}(io, items)
                if type(items) is EncodedElements:
                    io.write(items.data)
                elif items is not None:
                    for obj in items:
                        {element}
                return items
            """
        )
        return f"{name}(obj, io)"


class NullableStruct(SelfCompiled):
    """A struct that may be null: an int8 marker (-1 null, 1 present), then the struct when present."""

    def __init__(self, element: c.Construct) -> None:
        super().__init__()
        self.element = element

    def _emitparse(self, code: Any) -> str:
        name = f"parse_nullable_{code.allocateId()}"
        code.append(
            f"""
            def {name}(io):
                marker = io.read(1)
                if len(marker) != 1:
                    raise struct.error("nullable struct marker cut short")
                if marker[0] >= 0x80:
                    return None
                return {self.element._compileparse(code)}
            """
        )
        code.append("import struct")
        return f"{name}(io)"

    def _emitbuild(self, code: Any) -> str:
        name = f"build_nullable_{code.allocateId()}"
        element = self.element._compilebuild(code)
        code.append(
            f"""
            def {name}(obj, io):
                if obj is None:
                    io.write(b"\\xff")
                    return None
                io.write(b"\\x01")
                {element}
                return obj
            """
        )
        return f"{name}(obj, io)"


INT8 = FixedWidth(">b")
INT16 = FixedWidth(">h")
UINT16 = FixedWidth(">H")
INT32 = FixedWidth(">i")
UINT32 = FixedWidth(">I")
INT64 = FixedWidth(">q")
FLOAT64 = FixedWidth(">d")
BOOL = Primitive("read_bool", "write_bool")
UUID_ = Primitive("read_uuid", "write_uuid")
UVARINT = Primitive("read_uvarint", "write_uvarint")
VARINT = Primitive("read_varint", "write_varint")
VARLONG = Primitive("read_varlong", "write_varlong")

_FIXED: dict[str, c.Construct] = {
    "int8": INT8,
    "int16": INT16,
    "uint16": UINT16,
    "int32": INT32,
    "uint32": UINT32,
    "int64": INT64,
    "float64": FLOAT64,
    "bool": BOOL,
    "uuid": UUID_,
}


def primitive(type_name: str, compact: bool, nullable: bool) -> c.Construct:
    """The building block for one of Kafka's primitive type names in one encoding."""
    fixed = _FIXED.get(type_name)
    if fixed is not None:
        return fixed
    if type_name == "records":
        nullable = True  # record sets are always nullable on the wire
    variant = _variants(compact, nullable)
    return _primitive_cache(f"read_{variant}{type_name}", f"write_{variant}{type_name}")


_PRIMITIVES: dict[tuple[str, str], Primitive] = {}


def _primitive_cache(reader: str, writer: str) -> Primitive:
    key = (reader, writer)
    if key not in _PRIMITIVES:
        _PRIMITIVES[key] = Primitive(reader, writer)
    return _PRIMITIVES[key]


def read_tagged_fields(
    io: Stream, parsers: dict[int, Callable[[Stream], Any]]
) -> tuple[dict[int, Any], dict[int, bytes] | None]:
    """A tagged-field section: known tags decoded, unknown ones kept as raw bytes.

    Tags must be strictly increasing; each known field must use exactly its declared size.
    """
    count = read_uvarint(io)
    known: dict[int, Any] = {}
    if count == 0:
        return known, None
    unknown: dict[int, bytes] | None = None
    last = -1
    for _ in range(count):
        tag = read_uvarint(io)
        if tag <= last:
            raise ProtocolError(f"tagged field {tag} after {last}: tags out of order")
        last = tag
        size = read_uvarint(io)
        parser = parsers.get(tag)
        if parser is None:
            if unknown is None:
                unknown = {}
            unknown[tag] = _read_exact(io, size)
            continue
        start = io.tell()
        known[tag] = parser(io)
        if io.tell() - start != size:
            raise ProtocolError(f"tagged field {tag} declared {size} bytes, used {io.tell() - start}")
    return known, unknown


def write_tagged_fields(io: Stream, fields: list[tuple[int, bytes]], unknown: dict[int, bytes] | None) -> None:
    """Write known (already encoded) and unknown tagged fields in ascending tag order."""
    if unknown:
        fields = sorted([*fields, *unknown.items()])
    if not fields:
        io.write(b"\x00")
        return
    write_uvarint(io, len(fields))
    for tag, data in fields:
        write_uvarint(io, tag)
        write_uvarint(io, len(data))
        io.write(data)


READERS["read_tagged_fields"] = read_tagged_fields
WRITERS["write_tagged_fields"] = write_tagged_fields
