"""Frames and headers: whole requests and responses as bytes, in both directions.

The server side decodes request frames and encodes responses; the client side (CLI,
tests) encodes requests and decodes responses with the same declarations.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Generic, TypeVar

import streamhouse.protocol.apis  # noqa: F401  (registers every API)
from streamhouse.protocol.codec import ApiCodec, MessageCodec
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.primitives import Buffer, SplicingWriter
from streamhouse.protocol.registry import APIS
from streamhouse.protocol.schema import F, VersionRange

API_VERSIONS_KEY = 18
DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024
# A connection's read buffer: smaller frames are cut from it, larger ones get their own. Every
# connection holds one, so 1,000 idle connections hold 16 MiB.
READ_BUFFER_SIZE = 16 * 1024
# A larger frame's first piece (librdkafka's message.max.bytes is 1 MB: most frames fit in one).
LARGE_FRAME_PIECE_SIZE = 1024 * 1024

_SIZE = struct.Struct(">i")
_KEY_VERSION_CORRELATION = struct.Struct(">hhi")

REQUEST_HEADER = MessageCodec(
    "RequestHeader",
    (
        F("request_api_key", "int16"),
        F("request_api_version", "int16"),
        F("correlation_id", "int32"),
        # Quirk: client_id stays a classic (non-compact) nullable string in header v2.
        F("client_id", "string", "1+", nullable="1+", default=None, flexible="none"),
    ),
    VersionRange.parse("2+"),
)
RESPONSE_HEADER = MessageCodec("ResponseHeader", (F("correlation_id", "int32"),), VersionRange.parse("1+"))
RequestHeader: Any = REQUEST_HEADER.cls
ResponseHeader: Any = RESPONSE_HEADER.cls
Body = TypeVar("Body")


def request_header_version(api: ApiCodec, version: int) -> int:
    return 2 if api.is_flexible(version) else 1


def response_header_version(api: ApiCodec, version: int) -> int:
    # Quirk: ApiVersions responses always use header v0, so that a client can read the
    # error of a version it sent before knowing which versions we support.
    if api.key == API_VERSIONS_KEY:
        return 0
    return 1 if api.is_flexible(version) else 0


@dataclass(frozen=True)
class Request(Generic[Body]):
    """A decoded request: which API and version, its header and its body (a handler names its class)."""

    api: ApiCodec
    version: int
    header: Any
    body: Body

    @property
    def correlation_id(self) -> int:
        return int(self.header.correlation_id)


@dataclass(frozen=True)
class UnsupportedRequest:
    """A well-framed request whose API key or version we do not serve; the server can answer it."""

    api_key: int
    api_version: int
    correlation_id: int
    api: ApiCodec | None  # None when the key is unknown


def decode_request(frame: bytes | bytearray, allow_trailing: bool = False) -> Request[Any] | UnsupportedRequest:
    """Decode one request frame (without its size prefix).

    Bytes after the body are a ProtocolError unless `allow_trailing`: Kafka brokers ignore
    them, and librdkafka 2.x sends three after an all-topics Metadata v12 request.
    """
    if len(frame) < _KEY_VERSION_CORRELATION.size:
        raise ProtocolError(f"request frame of {len(frame)} bytes is shorter than a header")
    api_key, version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame)
    api = APIS.get(api_key)
    if api is None or not api.supports(version):
        return UnsupportedRequest(api_key, version, correlation_id, api)
    io = BytesIO(bytes(frame))
    try:
        header = REQUEST_HEADER.parse(io, request_header_version(api, version))
        body = api.request.parse(io, version)
    except struct.error as exc:
        raise ProtocolError(f"{api.name} v{version} request truncated: {exc}") from None
    if not allow_trailing:
        _expect_end(io, len(frame), api, version)
    return Request(api, version, header, body)


def encode_response(api: ApiCodec, version: int, correlation_id: int, body: Any) -> bytes:
    """A whole response frame, size prefix included."""
    return b"".join(encode_response_parts(api, version, correlation_id, body))


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """A response body already encoded for one API version (encode_body): a large answer many requests share."""

    data: bytes


def encode_body(api: ApiCodec, version: int, body: Any) -> EncodedBody:
    io = BytesIO()
    api.response.build(body, io, version)
    return EncodedBody(io.getvalue())


def encode_response_parts(api: ApiCodec, version: int, correlation_id: int, body: Any) -> list[Buffer]:
    """A whole response frame, size prefix included, as buffers to write in order.

    Large record-set pieces are parts of their own, by reference: a fetch answer's batches go from
    the log's caches to the socket without a copy into the frame; so is an EncodedBody.
    """
    io = SplicingWriter()
    io.write(b"\x00\x00\x00\x00")
    RESPONSE_HEADER.build(ResponseHeader(correlation_id=correlation_id), io, response_header_version(api, version))
    if isinstance(body, EncodedBody):
        io.splice(body.data)
    else:
        api.response.build(body, io, version)
    size = io.size() - 4
    with io.getbuffer() as view:
        _SIZE.pack_into(view, 0, size)
    return io.parts()


def encode_request(api: ApiCodec, version: int, correlation_id: int, client_id: str | None, body: Any) -> bytes:
    """A whole request frame, size prefix included (for clients: the CLI and tests)."""
    io = BytesIO()
    io.write(b"\x00\x00\x00\x00")
    header = RequestHeader(
        request_api_key=api.key, request_api_version=version, correlation_id=correlation_id, client_id=client_id
    )
    REQUEST_HEADER.build(header, io, request_header_version(api, version))
    api.request.build(body, io, version)
    return _finish_frame(io)


def decode_response(api: ApiCodec, version: int, frame: bytes) -> tuple[int, Any]:
    """Decode one response frame (without its size prefix): (correlation id, body)."""
    io = BytesIO(bytes(frame))
    try:
        header = RESPONSE_HEADER.parse(io, response_header_version(api, version))
        body = api.response.parse(io, version)
    except struct.error as exc:
        raise ProtocolError(f"{api.name} v{version} response truncated: {exc}") from None
    _expect_end(io, len(frame), api, version)
    return int(header.correlation_id), body


def _expect_end(io: BytesIO, size: int, api: ApiCodec, version: int) -> None:
    if io.tell() != size:
        raise ProtocolError(f"{api.name} v{version}: {size - io.tell()} bytes of trailing garbage")


def _finish_frame(io: BytesIO) -> bytes:
    with io.getbuffer() as view:
        _SIZE.pack_into(view, 0, len(view) - 4)
    return io.getvalue()


class FrameDecoder:
    """Splits a byte stream into size-prefixed frames, bounded by a maximum frame size.

    Shaped for asyncio's BufferedProtocol: bytes are received straight into `buffer()`, then
    `received(count)` returns the frames now complete. Frames that fit the read buffer are cut from
    it (one copy each). A larger frame is received straight into bytearrays of its own: up to
    `piece_size` (1 MiB) it is one, handed on as the frame with no copy; beyond, each further piece
    doubles what the frame holds and the pieces are joined at the end. Memory follows the bytes that
    arrive, not the size a frame claims: a 4-byte header claiming 100 MiB takes 1 MiB.
    """

    def __init__(
        self,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = READ_BUFFER_SIZE,
        piece_size: int = LARGE_FRAME_PIECE_SIZE,
    ) -> None:
        if piece_size < read_size:
            raise ValueError("a large frame's first piece must hold what the read buffer has of it")
        self.max_frame_size = max_frame_size
        self.piece_size = piece_size
        self._read = bytearray(read_size)
        self._start = 0  # the first byte of _read not yet cut into a frame
        self._end = 0  # the end of what was received into _read
        self._pieces: list[bytearray] = []  # a frame larger than _read being received; the last one filling
        self._filled = 0  # bytes received into the last piece
        self._unallocated = 0  # bytes of that frame beyond its pieces

    def buffer(self) -> memoryview:
        """Where the next received bytes go (never empty)."""
        if self._pieces:
            return memoryview(self._pieces[-1])[self._filled :]
        if self._end == len(self._read):
            # Full: what is left is the start of a frame that fits, so it fits once moved to the front.
            left = self._end - self._start
            self._read[:left] = self._read[self._start : self._end]
            self._start, self._end = 0, left
        return memoryview(self._read)[self._end :]

    def received(self, count: int) -> list[bytes | bytearray]:
        """`count` bytes were written at the start of `buffer()`: every frame now complete, in order."""
        if self._pieces:
            return self._received_large(count)
        self._end += count
        read, end = self._read, self._end
        frames: list[bytes | bytearray] = []
        position = self._start
        with memoryview(read) as view:
            while end - position >= 4:
                size = _SIZE.unpack_from(read, position)[0]
                if size < 0 or size > self.max_frame_size:
                    raise ProtocolError(f"frame size {size} outside 0..{self.max_frame_size}")
                body = position + 4
                if end - body >= size:
                    frames.append(bytes(view[body : body + size]))
                    position = body + size
                    continue
                if 4 + size > len(read):
                    first = bytearray(min(size, self.piece_size))
                    self._filled = end - body
                    first[: self._filled] = view[body:end]
                    self._pieces, self._unallocated = [first], size - len(first)
                    position = end
                break
        if position == end:
            position = self._end = 0
        self._start = position
        return frames

    def _received_large(self, count: int) -> list[bytes | bytearray]:
        self._filled += count
        if self._filled < len(self._pieces[-1]):
            return []
        if self._unallocated:
            allocated = sum(map(len, self._pieces))
            piece = bytearray(min(self._unallocated, allocated))
            self._pieces.append(piece)
            self._unallocated -= len(piece)
            self._filled = 0
            return []
        pieces, self._pieces = self._pieces, []
        return [pieces[0] if len(pieces) == 1 else b"".join(pieces)]

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes | bytearray]:
        """Add received bytes, copied into `buffer()`; every frame now complete, in order."""
        frames: list[bytes | bytearray] = []
        with memoryview(data) as whole:
            left = whole.cast("B")
            while left:
                target = self.buffer()
                count = min(len(target), len(left))
                target[:count] = left[:count]
                target.release()
                frames += self.received(count)
                left = left[count:]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        if self._pieces:
            return sum(map(len, self._pieces[:-1])) + self._filled
        return self._end - self._start
