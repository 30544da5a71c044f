"""The Kafka listener: size-prefixed frames in, responses out in request order per connection.

Requests of one connection run concurrently (clients pipeline), and each response is
written once it and every response before it are ready: those ready in the same pass of the
event loop in one system call, a fetch answer's record batches by reference (no copy into the
frame). A malformed frame, a frame over `socket.request.max.bytes`, an unknown API or an
unsupported version of any API but ApiVersions closes that connection alone, as Kafka does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from broker.handlers import HANDLERS
from broker.handlers.api_versions import api_versions_body
from broker.security import ANONYMOUS
from protocol import wire
from protocol.errors import ErrorCode, ProtocolError
from protocol.primitives import Buffer
from protocol.registry import APIS
from tracing import TRACE

if TYPE_CHECKING:
    from broker.app import Broker

log = logging.getLogger(__name__)

# Requests of one connection being handled, and their bytes, before we stop reading from it.
# librdkafka pipelines without a limit (max.in.flight 1,000,000): while a slow object store holds a
# flush, a low cap leaves the requests that keep coming in the socket and produce latency grows without
# bound. The byte bound keeps a client pipelining large requests from taking the memory.
MAX_IN_FLIGHT = 1024
MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024


def unsupported_api_versions_response(correlation_id: int) -> bytes:
    """ApiVersions of an unknown version: a v0 answer with UNSUPPORTED_VERSION and our ranges."""
    body = api_versions_body(ErrorCode.UNSUPPORTED_VERSION)
    return wire.encode_response(APIS[wire.API_VERSIONS_KEY], 0, correlation_id, body)


class Connection(asyncio.BufferedProtocol):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.decoder = wire.FrameDecoder(broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.peer_host = "?"
        self.principal = ANONYMOUS  # "User:<name>" once TLS or SASL authenticated the client
        self.in_flight: deque[asyncio.Future[list[Buffer] | None]] = deque()  # each answer's frame, in parts
        self.in_flight_sizes: deque[int] = deque()  # each in-flight request's frame size
        self.in_flight_bytes = 0
        self.outgoing: list[Buffer] = []  # responses' parts in order, written together by _send
        self.produce_lock = asyncio.Lock()  # keeps a connection's appends in arrival order
        self.offsets_lock = asyncio.Lock()  # keeps a connection's offset commits and fetches in arrival order
        self.closed = False
        self.stats = broker.metrics.stats if broker.metrics is not None else None  # None: metrics off

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport (uvloop's is not a subclass)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.peer_host = peer[0] if peer else "?"
        self.broker.connections.add(self)
        log.info("connection from %s", self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        for future in self.in_flight:
            future.cancel()
        self.in_flight.clear()
        self.in_flight_sizes.clear()
        self.in_flight_bytes = 0
        log.info("connection from %s closed%s", self.peer, f": {exc}" if exc else "")

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.decoder.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        TRACE.event("received", self)
        try:
            frames = self.decoder.received(nbytes)
        except ProtocolError as exc:
            self.close(f"bad frame: {exc}")
            return
        for frame in frames:
            if self.closed:
                return
            self._dispatch(frame)

    def close(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _dispatch(self, frame: bytes | bytearray) -> None:
        try:
            request = wire.decode_request(frame, allow_trailing=True)
        except ProtocolError as exc:
            self.close(f"malformed request: {exc}")
            return
        if isinstance(request, wire.UnsupportedRequest):
            if request.api_key != wire.API_VERSIONS_KEY:
                what = "unknown API key" if request.api is None else "unsupported version of"
                self.close(f"{what} {request.api_key} v{request.api_version}")
                return
            ready: asyncio.Future[list[Buffer] | None] = asyncio.get_running_loop().create_future()
            ready.set_result([unsupported_api_versions_response(request.correlation_id)])
            self._queue(ready, len(frame))
            return
        TRACE.event("decoded", request)
        if request.api.key not in HANDLERS:
            self.close(f"{request.api.name} is not served yet")
            return
        log.debug(
            "%s v%d from %s (correlation %d)", request.api.name, request.version, self.peer, request.correlation_id
        )
        # create_task, not ensure_future: its type checks cost more than the task on this path.
        self._queue(asyncio.get_running_loop().create_task(self._handle(request, len(frame))), len(frame))

    async def _handle(self, request: wire.Request[Any], size: int) -> list[Buffer] | None:
        started = time.perf_counter()
        TRACE.event("handler started", request)
        body: Any = await self.broker.handle(request, self)
        TRACE.event("handler done", request)
        response = (
            None
            if body is None
            else wire.encode_response_parts(request.api, request.version, request.correlation_id, body)
        )
        TRACE.event("encoded", request)
        if self.stats is not None:
            response_bytes = 0 if response is None else sum(map(len, response))
            self.stats.request(request.api.name, request.version, time.perf_counter() - started, size, response_bytes)
        return response

    def _queue(self, future: asyncio.Future[list[Buffer] | None], size: int) -> None:
        self.in_flight.append(future)
        self.in_flight_sizes.append(size)
        self.in_flight_bytes += size
        future.add_done_callback(self._write_ready)
        if self._full() and self.transport is not None:
            self.transport.pause_reading()

    def _full(self) -> bool:
        return len(self.in_flight) >= MAX_IN_FLIGHT or self.in_flight_bytes >= MAX_IN_FLIGHT_BYTES

    def _write_ready(self, _: asyncio.Future[list[Buffer] | None]) -> None:
        """Write every finished response at the head of the queue, in request order."""
        while self.in_flight and self.in_flight[0].done():
            future = self.in_flight.popleft()
            self.in_flight_bytes -= self.in_flight_sizes.popleft()
            if future.cancelled():
                continue
            error = future.exception()  # retrieved even when closed, else asyncio logs it again as never retrieved
            if self.closed:
                continue
            if error is not None:
                log.error("request from %s failed", self.peer, exc_info=error)
                self.close("internal error")
                continue  # on to the answers already done behind it: their errors are retrieved too
            response = future.result()
            TRACE.event("written", future)
            if response is not None:
                if not self.outgoing:
                    asyncio.get_running_loop().call_soon(self._send)
                self.outgoing += response
        if not self._full() and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _send(self) -> None:
        """Write the responses that became ready in one pass of the event loop with one system call.

        The requests of one flush finish together: a write each would cost a send() each, about as
        much as the Python that answered the request.
        """
        if self.outgoing and self.transport is not None and not self.closed:
            self.transport.writelines(self.outgoing)
        self.outgoing = []

    async def drain(self) -> None:
        """Wait for every request already received to be answered."""
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        self._send()
