"""The Kafka listener: size-prefixed frames in, responses out in request order per connection.

A connection's requests take effect in the order they arrive, as Kafka's one-at-a-time handling
has it: consecutive Produce requests run side by side (their appends keep arrival order, and a
connection's pipelined produces share a flush), but any other request starts only once every earlier
request of its connection is answered, and nothing after it starts before it is. Frames waiting their
turn stay undecoded in the connection's backlog. Each response is written once it and every
response before it are ready: those ready in the same pass of the event loop in one system call, a
fetch answer's record batches by reference (no copy into the frame). A malformed frame, a frame over
`socket.request.max.bytes`, an unknown API or an unsupported version of any API but ApiVersions
closes that connection alone, as Kafka does.

Memory is bounded as on Kafka: a connection is not read while its backlog, its requests in flight
or its unsent responses are over their bounds, nor while the requests in flight over all connections
are at --queued-max-requests / --queued-max-request-bytes. --max-connections and
--max-connections-per-ip close a connection over the limit at once; --connections-max-idle-ms closes a
connection that neither sent nor received anything for that long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from streamhouse.broker.handlers import HANDLERS
from streamhouse.broker.handlers.api_versions import api_versions_body
from streamhouse.broker.handlers.sasl import raw_sasl_token
from streamhouse.broker.security import ANONYMOUS
from streamhouse.broker.security.sasl import PRE_AUTHENTICATION_API_KEYS, SASL_MAX_RECEIVE_BYTES, SaslSession
from streamhouse.broker.security.tls import certificate_principal
from streamhouse.protocol import wire
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.apis.sasl_handshake import SASL_HANDSHAKE
from streamhouse.protocol.errors import ErrorCode, ProtocolError
from streamhouse.protocol.primitives import Buffer
from streamhouse.protocol.registry import APIS
from streamhouse.tracing import TRACE

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.config import BrokerConfig
    from streamhouse.broker.security.listeners import Listener

log = logging.getLogger(__name__)

# Requests of one connection being handled, and their bytes, before we stop reading from it.
# librdkafka pipelines without a limit (max.in.flight 1,000,000): while a slow object store holds a
# flush, a low cap leaves the requests that keep coming in the socket and produce latency grows without
# bound. The byte bound keeps a client pipelining large requests from taking the memory.
MAX_IN_FLIGHT = 1024
MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024
# Frames received but waiting their turn: past either bound the connection is not read.
MAX_BACKLOG = 64
MAX_BACKLOG_BYTES = 1024 * 1024
# Unsent responses of one connection: past the high mark no request of it starts and it is not read,
# until the transport has sent down to the low mark. A fetch answer alone may pass the high mark.
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024
PRODUCE_KEY = PRODUCE.key


def unsupported_api_versions_response(correlation_id: int) -> bytes:
    """ApiVersions of an unknown version: a v0 answer with UNSUPPORTED_VERSION and our ranges."""
    body = api_versions_body(ErrorCode.UNSUPPORTED_VERSION)
    return wire.encode_response(APIS[wire.API_VERSIONS_KEY], 0, correlation_id, body)


def api_key_of(frame: bytes | bytearray) -> int:
    """The API key of a request frame (its first two bytes), -1 for a frame too short to have one."""
    return int.from_bytes(frame[:2], "big", signed=True) if len(frame) >= 2 else -1


class ConnectionLimits:
    """What the broker's Kafka connections share: connection counts, the requests in flight, the idle sweep.

    Requests count from the start of their handling until their response is handed to the transport;
    while their bytes are at the bound no connection starts another nor is read, and while their count
    is, no connection starts a second one and those with requests waiting are not read, until answers
    bring it below. A connection's first request is not held back by the count (Kafka holds one request per
    connection at most): requests that park (a long poll, a join waiting for its group) would otherwise
    stop every other client once there are as many parked as the bound.
    """

    def __init__(self, config: BrokerConfig) -> None:
        self.max_connections = config.max_connections
        self.max_connections_per_ip = config.max_connections_per_ip
        self.idle_seconds = config.connections_max_idle_ms / 1000
        self.max_requests = config.queued_max_requests
        self.max_request_bytes = config.queued_max_request_bytes
        self.per_host: Counter[str] = Counter()
        self.open = 0
        self.requests = 0
        self.request_bytes = 0
        # Connections with a request held back, in order: those with requests in flight (held by either
        # bound), and those without (held by the byte bound only, so woken by bytes alone).
        self.held: dict[Connection, None] = {}
        self.held_first: dict[Connection, None] = {}
        self.paused_by_bytes: dict[Connection, None] = {}  # not read while the byte bound is reached

    def admit(self, host: str) -> str | None:
        """Count a new connection from `host`, or say why it is refused."""
        if self.open >= self.max_connections:
            return f"--max-connections {self.max_connections} reached"
        if self.per_host[host] >= self.max_connections_per_ip:
            return f"--max-connections-per-ip {self.max_connections_per_ip} reached for {host}"
        self.per_host[host] += 1
        self.open += 1
        return None

    def release(self, host: str) -> None:
        self.open -= 1
        self.per_host[host] -= 1
        if self.per_host[host] <= 0:
            del self.per_host[host]

    def full(self, *, first: bool) -> bool:
        """Whether a connection may not start a request now (`first`: it has none in flight)."""
        return (not first and self.requests >= self.max_requests) or (
            self.max_request_bytes >= 0 and self.request_bytes >= self.max_request_bytes
        )

    def started(self, size: int) -> None:
        self.requests += 1
        self.request_bytes += size

    def answered(self, size: int) -> None:
        self.requests -= 1
        self.request_bytes -= size
        if self.paused_by_bytes and not self.full(first=True):
            paused, self.paused_by_bytes = self.paused_by_bytes, {}
            for connection in paused:
                connection.start_waiting()
        while self.held_first and not self.full(first=True):
            self._wake(self.held_first)
        while self.held and not self.full(first=False):
            self._wake(self.held)

    @staticmethod
    def _wake(held: dict[Connection, None]) -> None:
        connection = next(iter(held))
        del held[connection]
        connection.start_waiting()

    def hold(self, connection: Connection) -> None:
        (self.held if connection.in_flight else self.held_first)[connection] = None

    def holds(self, connection: Connection) -> bool:
        return connection in self.held or connection in self.held_first

    def forget(self, connection: Connection) -> None:
        self.held.pop(connection, None)
        self.held_first.pop(connection, None)
        self.paused_by_bytes.pop(connection, None)

    async def close_idle(self, connections: set[Connection]) -> None:
        """Close the connections idle for --connections-max-idle-ms, checking ten times in that span."""
        while True:
            await asyncio.sleep(min(self.idle_seconds / 10, 30.0))
            cutoff = time.monotonic() - self.idle_seconds
            # One waiting for its requests' answers (a long poll, a join) is not idle.
            for connection in [c for c in connections if c.last_active < cutoff and not c.in_flight]:
                connection.close(f"idle for more than {self.idle_seconds * 1000:.0f} ms")


class Connection(asyncio.BufferedProtocol):
    def __init__(self, broker: Broker, listener: Listener) -> None:
        self.broker = broker
        self.limits = broker.connection_limits
        self.listener = listener  # its name picks the addresses Metadata gives; its protocol, the authentication
        self.decoder = wire.FrameDecoder(broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.peer_host = "?"
        self.principal = ANONYMOUS  # "User:<name>" once TLS or SASL authenticated the client
        self.backlog: deque[bytes | bytearray] = deque()  # frames received, not started: they wait their turn
        self.backlog_bytes = 0
        self.sasl = SaslSession(required=listener.sasl)  # SASL_PLAINTEXT and SASL_SSL listeners authenticate
        self._last_answer: asyncio.Future[list[Buffer] | None] | None = None  # close once this is written
        self._last_answer_reason = ""
        self._closing: str | None = None  # the last answer is being written: close after it, for this reason
        self.in_flight: deque[asyncio.Future[list[Buffer] | None]] = deque()  # each answer's frame, in parts
        self.in_flight_sizes: deque[int] = deque()  # each in-flight request's frame size
        self.in_flight_bytes = 0
        self.answered = 0  # requests whose response was handed on (or dropped), for drain()
        self.exclusive_in_flight = False  # a request other than Produce is in flight: it runs alone
        self.outgoing: list[Buffer] = []  # responses' parts in order, written together by _send
        self.produce_lock = asyncio.Lock()  # keeps a connection's appends in arrival order
        self.writing_paused = False  # unsent responses over the high-water mark
        self.reading = True
        self.counted = False  # in the limits' connection counts
        self.last_active = time.monotonic()  # the last read or write, for the idle timeout
        self.closed = False
        self.stats = broker.metrics.stats if broker.metrics is not None else None  # None: metrics off

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport (uvloop's is not a subclass)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.peer_host = peer[0] if peer else "?"
        refused = self.limits.admit(self.peer_host)
        if refused is not None:
            self.close(f"refused: {refused}")
            return
        self.counted = True
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self.broker.connections.add(self)
        if self.sasl.required:
            self.decoder.max_frame_size = min(self.decoder.max_frame_size, SASL_MAX_RECEIVE_BYTES)
        log.debug("connection from %s", self.peer)
        if self.listener.tls:  # connection_made comes after the handshake: the client's certificate is known
            principal = certificate_principal(transport.get_extra_info("peercert"))
            if principal is not None:
                self.principal = principal
                log.info("connection from %s authenticated by its certificate as %s", self.peer, principal)

    def authenticated(self) -> None:
        """SASL authenticated this connection: requests may be as large as any client's."""
        self.decoder.max_frame_size = self.broker.config.socket_request_max_bytes

    def close_after_answer(self, reason: str) -> None:
        """Close the connection once the answer of the request being handled (the current task) is written."""
        self._last_answer = asyncio.current_task()
        self._last_answer_reason = reason
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        if self.counted:
            self.limits.release(self.peer_host)
            self.counted = False
        self.limits.forget(self)
        for future in self.in_flight:
            future.cancel()  # their done callbacks give their places in the limits back
        self.backlog.clear()
        self.backlog_bytes = 0
        log.debug("connection from %s closed%s", self.peer, f": {exc}" if exc else "")

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.decoder.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        TRACE.event("received", self)
        self.last_active = time.monotonic()
        try:
            frames = self.decoder.received(nbytes)
        except ProtocolError as exc:
            self.close(f"bad frame: {exc}")
            return
        if frames:
            self.backlog.extend(frames)
            self.backlog_bytes += sum(map(len, frames))
            self.start_waiting()
        else:
            self._update_reading()  # a large frame coming in pieces: still read only under the byte bound

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.last_active = time.monotonic()
        self.start_waiting()

    def close(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def start_waiting(self) -> None:
        """Start the backlog's requests whose turn it is, as far as the bounds let them."""
        backlog = self.backlog
        self.limits.forget(self)
        while (
            backlog and not self.closed and not self.writing_paused and not self._full() and self._last_answer is None
        ):
            if self.exclusive_in_flight or (self.in_flight and api_key_of(backlog[0]) != PRODUCE_KEY):
                break  # its turn comes when what is in flight is answered
            if self.limits.full(first=not self.in_flight):
                self.limits.hold(self)
                break
            frame = backlog.popleft()
            self.backlog_bytes -= len(frame)
            self._dispatch(frame)
        self._update_reading()

    def _update_reading(self) -> None:
        """Read while nothing is over its bound: the backlog, the requests in flight, the unsent responses,
        and the bytes in flight over all connections (which go down by themselves as requests are answered)."""
        over_bytes = self.limits.full(first=True)
        if over_bytes and not self.closed:
            self.limits.paused_by_bytes[self] = None
        reading = not (
            self.closed
            or over_bytes
            or self.writing_paused
            or self._full()
            or len(self.backlog) >= MAX_BACKLOG
            or self.backlog_bytes >= MAX_BACKLOG_BYTES
            or (self.backlog and self.limits.holds(self))
            or self._last_answer is not None
        )
        if reading != self.reading and self.transport is not None and not self.closed:
            self.reading = reading
            if reading:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _dispatch(self, frame: bytes | bytearray) -> None:
        if self.sasl.raw_tokens:
            self._queue(
                asyncio.get_running_loop().create_task(self._raw_sasl_token(bytes(frame))), len(frame), exclusive=True
            )
            return
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
            self._queue(ready, len(frame), exclusive=True)
            return
        TRACE.event("decoded", request)
        sasl = self.sasl
        if sasl.required:
            if request.api.key not in PRE_AUTHENTICATION_API_KEYS and (not sasl.authenticated or sasl.expired()):
                what = "an expired session" if sasl.authenticated else "a connection not authenticated yet"
                self.close(f"{request.api.name} on {what}")
                return
            if request.api.key == SASL_HANDSHAKE.key and request.version == 0:
                sasl.raw_tokens = True  # now, before the next frame: it is a bare token
        if request.api.key not in HANDLERS:
            self.close(f"{request.api.name} is not served yet")
            return
        log.debug(
            "%s v%d from %s (correlation %d)", request.api.name, request.version, self.peer, request.correlation_id
        )
        # create_task, not ensure_future: its type checks cost more than the task on this path.
        task = asyncio.get_running_loop().create_task(self._handle(request, len(frame)))
        self._queue(task, len(frame), exclusive=request.api.key != PRODUCE_KEY)

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

    async def _raw_sasl_token(self, token: bytes) -> list[Buffer] | None:
        answer = await raw_sasl_token(self.broker, self, token)
        if answer is None:
            self.close("SASL exchange after SaslHandshake v0 failed")
            return None
        return [len(answer).to_bytes(4, "big"), answer]

    def _queue(self, future: asyncio.Future[list[Buffer] | None], size: int, *, exclusive: bool) -> None:
        self.in_flight.append(future)
        self.in_flight_sizes.append(size)
        self.in_flight_bytes += size
        self.exclusive_in_flight = exclusive
        self.limits.started(size)
        future.add_done_callback(self._write_ready)

    def _full(self) -> bool:
        return len(self.in_flight) >= MAX_IN_FLIGHT or self.in_flight_bytes >= MAX_IN_FLIGHT_BYTES

    def _write_ready(self, _: asyncio.Future[list[Buffer] | None]) -> None:
        """Write every finished response at the head of the queue, in request order, then start what may."""
        while self.in_flight and self.in_flight[0].done():
            future = self.in_flight.popleft()
            size = self.in_flight_sizes.popleft()
            self.in_flight_bytes -= size
            self.answered += 1
            self.limits.answered(size)
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
            if future is self._last_answer:
                self._closing = self._last_answer_reason
                return
        if not self.in_flight:
            self.exclusive_in_flight = False
        self.start_waiting()

    def _send(self) -> None:
        """Write the responses that became ready in one pass of the event loop with one system call.

        The requests of one flush finish together: a write each would cost a send() each, about as
        much as the Python that answered the request.
        """
        if self.outgoing and self.transport is not None and not self.closed:
            self.transport.writelines(self.outgoing)
            self.last_active = time.monotonic()
        self.outgoing = []
        if self._closing is not None:
            self.close(self._closing)

    async def drain(self) -> None:
        """Wait for every request already received to be answered (not for those that keep coming)."""
        received = self.answered + len(self.in_flight) + len(self.backlog)
        while self.answered < received and self.in_flight and not self.closed:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
            await asyncio.sleep(0)  # the done callbacks, which start the backlog's next requests
        self._send()
