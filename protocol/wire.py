"""Frames and headers: whole requests and responses as bytes, in both directions.

The server side decodes request frames and encodes responses; the client side (CLI,
tests) encodes requests and decodes responses with the same declarations.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import protocol.apis  # noqa: F401  (registers every API)
from protocol.codec import ApiCodec, MessageCodec
from protocol.errors import ProtocolError
from protocol.registry import APIS
from protocol.schema import F, VersionRange

API_VERSIONS_KEY = 18
DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024
# A connection's read buffer: smaller frames are cut from it, larger ones get their own. Every
# connection holds one, so 1,000 idle connections hold 16 MiB.
READ_BUFFER_SIZE = 16 * 1024

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


def request_header_version(api: ApiCodec, version: int) -> int:
    return 2 if api.is_flexible(version) else 1


def response_header_version(api: ApiCodec, version: int) -> int:
    # Quirk: ApiVersions responses always use header v0, so that a client can read the
    # error of a version it sent before knowing which versions we support.
    if api.key == API_VERSIONS_KEY:
        return 0
    return 1 if api.is_flexible(version) else 0


@dataclass(frozen=True)
class Request:
    """A decoded request: which API and version, its header and its typed body."""

    api: ApiCodec
    version: int
    header: Any
    body: Any

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


def decode_request(frame: bytes | bytearray, allow_trailing: bool = False) -> Request | UnsupportedRequest:
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
    io = BytesIO()
    io.write(b"\x00\x00\x00\x00")
    RESPONSE_HEADER.build(ResponseHeader(correlation_id=correlation_id), io, response_header_version(api, version))
    api.response.build(body, io, version)
    return _finish_frame(io)


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
    it (one copy each); a larger frame gets a bytearray of its own, allocated when its size is read
    (as Kafka allocates a request's buffer), which the rest of it is received into and which is
    handed on as the frame: a large Produce request is not copied on its way in.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, read_size: int = READ_BUFFER_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._read = bytearray(read_size)
        self._start = 0  # the first byte of _read not yet cut into a frame
        self._end = 0  # the end of what was received into _read
        self._large: bytearray | None = None  # a frame larger than _read, being received
        self._large_filled = 0

    def buffer(self) -> memoryview:
        """Where the next received bytes go (never empty)."""
        if self._large is not None:
            return memoryview(self._large)[self._large_filled :]
        if self._end == len(self._read):
            # Full: what is left is the start of a frame that fits, so it fits once moved to the front.
            left = self._end - self._start
            self._read[:left] = self._read[self._start : self._end]
            self._start, self._end = 0, left
        return memoryview(self._read)[self._end :]

    def received(self, count: int) -> list[bytes | bytearray]:
        """`count` bytes were written at the start of `buffer()`: every frame now complete, in order."""
        if self._large is not None:
            self._large_filled += count
            if self._large_filled < len(self._large):
                return []
            frame, self._large = self._large, None
            return [frame]
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
                    self._large = bytearray(size)
                    self._large_filled = end - body
                    self._large[: self._large_filled] = view[body:end]
                    position = end
                break
        if position == end:
            position = self._end = 0
        self._start = position
        return frames

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
        return self._large_filled if self._large is not None else self._end - self._start
