"""A connection stops reading while its requests in flight hold too many bytes, and reads on once answered;
the responses that become ready together are written together, in request order; a handler that fails
closes its connection unanswered. Consecutive produces run together, any other request alone and in
order; --queued-max-requests bounds the requests in flight over all connections; a connection whose
unsent responses pass the high-water mark is not read; one over --max-connections-per-ip is closed.

The connection is driven as the event loop drives a BufferedProtocol (get_buffer, then buffer_updated),
with a transport stand-in that records pause_reading / resume_reading, and a broker stand-in whose
handler waits until the test lets it answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from streamhouse.broker import server
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Record, build_batch
from tests.broker.inprocess import PLAINTEXT_LISTENER
from tests.wireclient import produce_body

RECORD_BYTES = 100_000


@dataclass
class Transport:
    reading: bool = True
    writes: list[list[bytes]] = field(default_factory=list)  # each write call's buffers

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 9) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.writes.append([data])

    def writelines(self, data: list[bytes]) -> None:
        self.writes.append(list(data))

    def close(self) -> None:
        self.reading = False

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass


@dataclass
class Config:
    socket_request_max_bytes: int = 100 * 1024 * 1024
    max_connections: int = 100
    max_connections_per_ip: int = 100
    connections_max_idle_ms: int = 600_000
    queued_max_requests: int = 500
    queued_max_request_bytes: int = 256 * 1024 * 1024


class Broker:
    """Answers every request with nothing (as acks=0 does) once `answer` is set, or with `body`."""

    def __init__(self, body: Any = None) -> None:
        self.config = Config()
        self.metrics = None
        self.connections: set[server.Connection] = set()
        self.connection_limits = server.ConnectionLimits(self.config)  # type: ignore[arg-type]  # what it reads
        self.answer = asyncio.Event()
        self.handled = 0
        self.body = body

    async def handle(self, request: wire.Request, connection: server.Connection) -> Any:
        await self.answer.wait()
        self.handled += 1
        if request.api.key == API_VERSIONS.key:
            return API_VERSIONS.Response(error_code=0, api_keys=[])
        return self.body


def produce_frame(correlation_id: int) -> bytes:
    body = produce_body("t", build_batch([Record(key=None, value=bytes(RECORD_BYTES))]), acks=0)
    return wire.encode_request(PRODUCE, 9, correlation_id, "flow-test", body)


def receive(connection: server.Connection, data: bytes) -> None:
    """What the event loop does with received bytes: into get_buffer(), then buffer_updated()."""
    while data:
        target = connection.get_buffer(-1)
        count = min(len(target), len(data))
        target[:count] = data[:count]
        target.release()
        connection.buffer_updated(count)
        data = data[count:]


async def test_reading_pauses_at_the_in_flight_byte_bound_and_resumes_once_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "MAX_IN_FLIGHT_BYTES", 5 * RECORD_BYTES)
    broker = Broker()
    transport = Transport()
    connection = server.Connection(broker, PLAINTEXT_LISTENER)  # type: ignore[arg-type]  # the stand-in has what Connection uses
    connection.connection_made(transport)  # type: ignore[arg-type]
    for correlation_id in range(4):
        receive(connection, produce_frame(correlation_id))
    assert transport.reading  # four requests of ~100 kB: under 500 kB
    receive(connection, produce_frame(4))
    assert not transport.reading and len(connection.in_flight) == 5
    broker.answer.set()
    await asyncio.gather(*connection.in_flight)
    await asyncio.sleep(0)  # the done callbacks
    assert transport.reading and broker.handled == 5
    assert not connection.in_flight and connection.in_flight_bytes == 0


async def test_reading_pauses_at_the_in_flight_request_bound_and_resumes_once_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker()
    transport = Transport()
    connection = server.Connection(broker, PLAINTEXT_LISTENER)  # type: ignore[arg-type]
    connection.connection_made(transport)  # type: ignore[arg-type]
    monkeypatch.setattr(server, "MAX_IN_FLIGHT", 3)
    frames = b"".join(
        wire.encode_request(PRODUCE, 9, index, "flow-test", PRODUCE.Request(acks=0)) for index in range(3)
    )
    receive(connection, frames)
    assert not transport.reading and len(connection.in_flight) == 3
    broker.answer.set()
    await asyncio.gather(*connection.in_flight)
    await asyncio.sleep(0)
    assert transport.reading


async def test_responses_ready_in_one_pass_of_the_loop_are_written_in_one_call_in_request_order() -> None:
    broker = Broker(PRODUCE.Response(responses=[]))
    transport = Transport()
    connection = server.Connection(broker, PLAINTEXT_LISTENER)  # type: ignore[arg-type]
    connection.connection_made(transport)  # type: ignore[arg-type]
    receive(
        connection,
        b"".join(wire.encode_request(PRODUCE, 9, index, "flow-test", PRODUCE.Request()) for index in range(3)),
    )
    broker.answer.set()
    await asyncio.gather(*connection.in_flight)
    for _ in range(3):  # the done callbacks, then the write they scheduled
        await asyncio.sleep(0)
    assert len(transport.writes) == 1
    responses = transport.writes[0]
    assert [wire.decode_response(PRODUCE, 9, frame[4:])[0] for frame in responses] == [0, 1, 2]


class OneByOneBroker(Broker):
    """Answers each request once the test sets the event of its correlation id."""

    def __init__(self) -> None:
        super().__init__(PRODUCE.Response(responses=[]))
        self.answers = [asyncio.Event() for _ in range(2)]

    async def handle(self, request: wire.Request, connection: server.Connection) -> Any:
        await self.answers[request.correlation_id].wait()
        return self.body


async def test_an_answer_ready_before_an_earlier_one_waits_for_it() -> None:
    broker = OneByOneBroker()
    transport = Transport()
    connection = server.Connection(broker, PLAINTEXT_LISTENER)  # type: ignore[arg-type]
    connection.connection_made(transport)  # type: ignore[arg-type]
    receive(
        connection, b"".join(wire.encode_request(PRODUCE, 9, index, "flow-test", PRODUCE.Request()) for index in (0, 1))
    )
    first, second = connection.in_flight
    broker.answers[1].set()
    await second
    for _ in range(2):  # its done callback, and the write it would schedule
        await asyncio.sleep(0)
    assert not transport.writes and len(connection.in_flight) == 2
    broker.answers[0].set()
    await first
    for _ in range(2):  # the done callback, then the write it scheduled
        await asyncio.sleep(0)
    assert [[wire.decode_response(PRODUCE, 9, frame[4:])[0] for frame in write] for write in transport.writes] == [
        [0, 1]
    ]


class FailingBroker(Broker):
    async def handle(self, request: wire.Request, connection: server.Connection) -> Any:
        raise RuntimeError("a bug in a handler")


async def test_a_request_whose_handler_fails_closes_its_connection_unanswered() -> None:
    transport = Transport()
    connection = server.Connection(FailingBroker(), PLAINTEXT_LISTENER)  # type: ignore[arg-type]
    connection.connection_made(transport)  # type: ignore[arg-type]
    receive(connection, wire.encode_request(PRODUCE, 9, 0, "flow-test", PRODUCE.Request()))
    await asyncio.gather(*connection.in_flight, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback
    assert connection.closed and not transport.reading and not transport.writes


def connected(broker: Broker) -> tuple[server.Connection, Transport]:
    transport = Transport()
    connection = server.Connection(broker, PLAINTEXT_LISTENER)  # type: ignore[arg-type]  # the stand-in has what Connection uses
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


def api_versions_frame(correlation_id: int) -> bytes:
    return wire.encode_request(API_VERSIONS, 3, correlation_id, "flow-test", API_VERSIONS.Request())


async def settle() -> None:
    """Let done callbacks, and the writes and requests they schedule, and their callbacks run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_consecutive_produces_run_together_and_anything_else_waits_for_all_before_it() -> None:
    broker = Broker(PRODUCE.Response(responses=[]))
    connection, _ = connected(broker)
    frames = [wire.encode_request(PRODUCE, 9, index, "flow-test", PRODUCE.Request()) for index in range(3)]
    receive(connection, b"".join(frames[:2]) + api_versions_frame(2) + frames[2])
    await settle()
    # Both produces started; the ApiVersions and the produce after it wait in the backlog, undecoded.
    assert len(connection.in_flight) == 2 and len(connection.backlog) == 2
    broker.answer.set()
    await settle()
    assert broker.handled == 4 and not connection.in_flight and not connection.backlog


async def test_a_request_after_one_that_is_not_a_produce_waits_for_it() -> None:
    broker = Broker(PRODUCE.Response(responses=[]))
    connection, _ = connected(broker)
    receive(
        connection,
        api_versions_frame(0) + wire.encode_request(PRODUCE, 9, 1, "flow-test", PRODUCE.Request()),
    )
    await settle()
    assert len(connection.in_flight) == 1 and len(connection.backlog) == 1  # the ApiVersions alone
    broker.answer.set()
    await settle()
    assert broker.handled == 2 and not connection.backlog


def produce_frames(count: int) -> bytes:
    return b"".join(wire.encode_request(PRODUCE, 9, index, "flow-test", PRODUCE.Request()) for index in range(count))


async def test_the_requests_in_flight_over_all_connections_stop_at_queued_max_requests() -> None:
    broker = Broker(PRODUCE.Response(responses=[]))
    broker.connection_limits.max_requests = 2
    first, first_transport = connected(broker)
    second, second_transport = connected(broker)
    receive(first, produce_frames(2))
    receive(second, produce_frames(2))
    await settle()
    # Two in flight on the first: the second starts its first request only, and stops reading.
    assert broker.connection_limits.requests == 3
    assert len(first.in_flight) == 2 and len(second.in_flight) == 1 and len(second.backlog) == 1
    assert not second_transport.reading and first_transport.reading
    broker.answer.set()
    await settle()
    assert broker.handled == 4 and broker.connection_limits.requests == 0
    assert not second.backlog and second_transport.reading


async def test_the_bytes_in_flight_over_all_connections_stop_at_queued_max_request_bytes() -> None:
    broker = Broker()
    broker.connection_limits.max_request_bytes = 3 * RECORD_BYTES
    first, _ = connected(broker)
    second, second_transport = connected(broker)
    third, third_transport = connected(broker)
    receive(first, b"".join(produce_frame(index) for index in range(3)))
    receive(second, produce_frame(0))
    receive(third, produce_frame(0)[:1000])  # the start of a frame
    await settle()
    # Over the byte bound, not even a connection's first request starts, and no connection is read.
    assert len(first.in_flight) == 3 and not second.in_flight and len(second.backlog) == 1
    assert not second_transport.reading and not third_transport.reading
    broker.answer.set()
    await settle()
    assert broker.handled == 4 and broker.connection_limits.request_bytes == 0
    assert second_transport.reading and third_transport.reading


async def test_a_connection_whose_unsent_responses_pass_the_high_water_mark_is_not_read_until_they_drain() -> None:
    broker = Broker(PRODUCE.Response(responses=[]))
    broker.answer.set()
    connection, transport = connected(broker)
    connection.pause_writing()  # the transport's answer to a write buffer over the high-water mark
    assert not transport.reading
    receive(connection, api_versions_frame(0))
    await settle()
    assert not connection.in_flight and len(connection.backlog) == 1 and broker.handled == 0
    connection.resume_writing()
    await settle()
    assert broker.handled == 1 and transport.reading and transport.writes


async def test_a_connection_over_max_connections_per_ip_is_closed_at_once_and_others_stay() -> None:
    broker = Broker()
    broker.connection_limits.max_connections_per_ip = 1
    first, _ = connected(broker)
    second, second_transport = connected(broker)
    assert second.closed and not second_transport.reading and not first.closed
    assert broker.connections == {first} and broker.connection_limits.per_host == {"127.0.0.1": 1}
    second.connection_lost(None)
    first.connection_lost(None)
    assert not broker.connection_limits.per_host
