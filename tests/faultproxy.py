"""A fault-injecting TCP proxy for HTTP services (the tests' S3 server), run on its own thread.

Modes, switched at any time from the test's thread:
- pass: bytes flow both ways unchanged;
- error: every request is answered with an HTTP error status (500 or 503, S3's SlowDown body) and the
  connection closed; nothing reaches the server;
- delay: bytes flow, but each piece of every answer waits `delay` seconds first;
- closed: the port is closed (connections are refused) until the mode changes.

A mode change cuts every open connection, so that kept-alive connections of the client pick up the new
mode at once (the client sees its requests in flight fail, as on a real network fault). `errors_sent`
counts the requests answered with an error, `connections` the connections accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from tests.sessionserver import free_port

_ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>injected by the fault proxy'
    b"</Message></Error>"
)
_STATUS_CODES = {500: b"InternalError", 503: b"SlowDown"}
_REASONS = {500: b"Internal Server Error", 503: b"Slow Down"}
_CHUNK = 64 * 1024


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to `upstream_host`:`upstream_port` as the mode says."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = "pass"
        self.status = 503
        self.delay = 0.0
        self.errors_sent = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._open())
        return self

    def stop(self) -> None:
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def set_mode(self, mode: str, *, status: int = 503, delay: float = 0.0) -> None:
        """Switch to pass, error (with `status`), delay (of `delay` seconds per answer piece) or closed."""
        if mode not in ("pass", "error", "delay", "closed") or status not in _STATUS_CODES:
            raise ValueError(f"unknown mode {mode!r} or status {status}")
        self._run(self._switch(mode, status, delay))

    @contextlib.contextmanager
    def fault(self, mode: str, *, status: int = 503, delay: float = 0.0) -> Iterator[None]:
        """The mode within the block, pass after it."""
        self.set_mode(mode, status=status, delay=delay)
        try:
            yield
        finally:
            self.set_mode("pass")

    # -- on the proxy's loop ----------------------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(10)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _switch(self, mode: str, status: int, delay: float) -> None:
        await self._close()
        self.mode, self.status, self.delay = mode, status, delay
        if mode != "closed":
            await self._open()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if self.mode == "error":
                await self._answer_error(reader, writer)
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(upstream_writer)
            try:
                await asyncio.gather(
                    self._pipe(reader, upstream_writer, 0.0), self._pipe(upstream_reader, writer, self.delay)
                )
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.transport.abort()
        except (ConnectionError, OSError):
            pass  # a cut connection is the point of most modes
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _answer_error(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.readuntil(b"\r\n\r\n")  # the request head; the body is not needed
        body = _ERROR_BODY % _STATUS_CODES[self.status]
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (self.status, _REASONS[self.status], len(body), body)
        )
        self.errors_sent += 1
        await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        while data := await reader.read(_CHUNK):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
