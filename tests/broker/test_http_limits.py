"""The HTTP endpoint refuses an over-long request line with 414 and oversize headers with 431, logging no
traceback; drops a client slow to send its headers; /metrics carries the event loop's lag."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from streamhouse.broker import http
from streamhouse.broker.http import MAX_HEADER_BYTES, MAX_REQUEST_LINE_BYTES
from streamhouse.broker.metrics import LOOP_LAG_INTERVAL_S
from tests.broker.inprocess import running_broker


async def http_status(port: int, request: bytes) -> tuple[int, bytes]:
    """Send `request`, return the status code and the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * (MAX_REQUEST_LINE_BYTES + 1) + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\n\r\n", 414),  # past the reader's own limit too
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * (MAX_HEADER_BYTES + 1) + b"\r\n\r\n", 431),
        (b"GET /health HTTP/1.1\r\n" + b"X-Many: c\r\n" * (MAX_HEADER_BYTES // 10) + b"\r\n", 431),
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n", 431),
    ],
    ids=["long-line", "longer-than-the-reader-limit", "one-big-header", "many-headers", "huge-header"],
)
async def test_an_oversize_request_gets_its_status_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request_bytes: bytes, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_broker(tmp_path, metrics_port=0) as broker:
        assert (await http_status(broker.http.port, request_bytes))[0] == status
        assert (await http_status(broker.http.port, b"GET /health HTTP/1.1\r\n\r\n"))[0] == 200
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_metrics_carry_the_event_loop_lag(tmp_path: Path) -> None:
    async with running_broker(tmp_path, metrics_port=0) as broker:
        await asyncio.sleep(3 * LOOP_LAG_INTERVAL_S)
        status, answer = await http_status(broker.http.port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 200
    counts = [
        line for line in answer.decode().splitlines() if line.startswith("streamhouse_event_loop_lag_seconds_count")
    ]
    assert len(counts) == 1 and float(counts[0].split()[-1]) >= 1


async def test_a_client_slow_to_send_its_headers_is_dropped_unanswered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "HEAD_TIMEOUT", 0.5)
    async with running_broker(tmp_path, metrics_port=0) as broker:
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.http.port)
        try:
            writer.write(b"GET /health HTTP/1.1\r\nX-Slow: 1\r\n")  # and never the blank line
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no answer
        finally:
            writer.close()
