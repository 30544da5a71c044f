"""A connection stops reading while its requests in flight hold too many bytes, and reads on once answered;
the responses that become ready together are written together, in request order; a handler that fails
closes its connection unanswered.

The connection is driven as the event loop drives a BufferedProtocol (get_buffer, then buffer_updated),
with a transport stand-in that records pause_reading / resume_reading, and a broker stand-in whose
handler waits until the test lets it answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from broker import server
from protocol import wire
from protocol.apis.produce import PRODUCE
from protocol.records import Record, build_batch
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


@dataclass
class Config:
    socket_request_max_bytes: int = 100 * 1024 * 1024


class Broker:
    """Answers every request with nothing (as acks=0 does) once `answer` is set, or with `body`."""

    def __init__(self, body: Any = None) -> None:
        self.config = Config()
        self.metrics = None
        self.sasl = SimpleNamespace(enabled=False)  # no SASL: connections need not authenticate
        self.connections: set[server.Connection] = set()
        self.answer = asyncio.Event()
        self.handled = 0
        self.body = body

    async def handle(self, request: wire.Request, connection: server.Connection) -> Any:
        await self.answer.wait()
        self.handled += 1
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
    connection = server.Connection(broker)  # type: ignore[arg-type]  # the stand-in has what Connection uses
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
    connection = server.Connection(broker)  # type: ignore[arg-type]
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
    connection = server.Connection(broker)  # type: ignore[arg-type]
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
    connection = server.Connection(broker)  # type: ignore[arg-type]
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
    connection = server.Connection(FailingBroker())  # type: ignore[arg-type]
    connection.connection_made(transport)  # type: ignore[arg-type]
    receive(connection, wire.encode_request(PRODUCE, 9, 0, "flow-test", PRODUCE.Request()))
    await asyncio.gather(*connection.in_flight, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback
    assert connection.closed and not transport.reading and not transport.writes
