"""The broker's HTTP endpoint on --metrics-host (default: --host) and --metrics-port.

GET /metrics: the broker's Prometheus metrics in the text format (404 when --metrics is false).
GET /health: 200 while the process runs.
GET /ready: 200 only when the Kafka listener is up and both the metadata store and the object
store answer within READY_TIMEOUT seconds; otherwise 503 with a JSON reason per failing part.
Either answer lists under "missing_objects" (when there are any) the partitions whose reads found an index entry naming
an object the object store does not have ("topic-partition": {object, offsets}); they are answered
KAFKA_STORAGE_ERROR but leave the broker ready: every broker sharing the store would find the same,
and the other partitions are served.

GET / and /console/... (POST too): the web console (broker/console/), unless --console false.

A minimal HTTP/1.0-style responder on asyncio streams: one request per connection. A request line
over MAX_REQUEST_LINE_BYTES gets 414, headers over MAX_HEADER_BYTES in all get 431, a body (the
console's forms) over MAX_BODY_BYTES gets 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from streamhouse.broker.console.routes import Console
from streamhouse.broker.console.web import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
MAX_REQUEST_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 1024 * 1024
HEAD_TIMEOUT = 10.0  # for the request line and headers together: a client sending a line now and then is dropped
# After refusing a request, what the client still sends is read and dropped for this long (or up to
# this much): closing with unread bytes would reset the connection and could lose the answer.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
READY_TIMEOUT = 2.0
JSON = "application/json"


class HttpServer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.host = broker.config.metrics_host or broker.config.host
        self.port = broker.config.metrics_port
        self._server: asyncio.Server | None = None
        self.console = Console(broker, self.unready_reasons) if broker.config.console else None

    async def start(self) -> None:
        if self.port < 0:
            return
        if self.console is not None:
            self.console.start()
        # The reader's line limit: a longer line raises instead of being buffered whole.
        limit = max(MAX_REQUEST_LINE_BYTES, MAX_HEADER_BYTES)
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=limit)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.console is not None:
            await self.console.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line, headers, refusal = await asyncio.wait_for(_read_head(reader), HEAD_TIMEOUT)
            parts = request_line.decode("latin-1").split()
            if refusal is None and self._for_console(parts):
                refusal, response = await self._console(reader, writer, parts, headers)
            elif refusal is None:
                response = HttpResponse(*await self._route(parts))
            if refusal is not None:
                response = HttpResponse(*_json(refusal, {"error": _REASONS[refusal]}))
            extra = "".join(f"{name}: {value}\r\n" for name, value in response.headers)
            writer.write(
                f"HTTP/1.1 {response.status} {_REASONS[response.status]}\r\nContent-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.payload)}\r\n{extra}Connection: close\r\n\r\n".encode()
                + response.payload
            )
            await writer.drain()
            if refusal is not None:
                await _discard(reader)
        except (TimeoutError, ConnectionError, UnicodeDecodeError, asyncio.IncompleteReadError) as exc:
            log.debug("HTTP client dropped: %s", exc)
        finally:
            writer.close()

    def _for_console(self, parts: list[str]) -> bool:
        if self.console is None or len(parts) < 2:
            return False
        path = parts[1].split("?", 1)[0]
        return path == "/" or path.startswith("/console/")

    async def _console(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parts: list[str], headers: dict[str, str]
    ) -> tuple[int | None, HttpResponse]:
        """The console's answer; or why the request is refused (400, 405, 413) and an empty answer."""
        assert self.console is not None
        method, (path, _, query) = parts[0], parts[1].partition("?")
        if method not in ("GET", "POST"):
            return 405, HttpResponse(405, JSON, b"")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return 400, HttpResponse(400, JSON, b"")
        if not 0 <= length <= MAX_BODY_BYTES:
            return 413, HttpResponse(413, JSON, b"")
        body = await asyncio.wait_for(reader.readexactly(length), HEAD_TIMEOUT) if length else b""
        peer = writer.get_extra_info("peername")
        request = HttpRequest(method, path, query, headers, body, peer[0] if peer else "")
        return None, await self.console.handle(request)

    async def _route(self, parts: list[str]) -> tuple[int, str, bytes]:
        if len(parts) < 2:
            return _json(400, {"error": "bad request line"})
        method, path = parts[0], parts[1].split("?", 1)[0]
        if method != "GET":
            return _json(405, {"error": "only GET"})
        if path == "/health":
            return _json(200, {"status": "ok", "broker_id": self.broker.config.broker_id})
        if path == "/ready":
            reasons = await self.unready_reasons()
            body: dict[str, object] = (
                {"status": "not ready", "reasons": reasons}
                if reasons
                else {"status": "ready", "broker_id": self.broker.config.broker_id}
            )
            missing = await self.missing_objects()
            if missing:
                body["missing_objects"] = missing
            return _json(503 if reasons else 200, body)
        if path == "/metrics":
            return await self._metrics()
        return _json(404, {"error": f"no such endpoint: {path}"})

    async def _metrics(self) -> tuple[int, str, bytes]:
        metrics = self.broker.metrics
        if metrics is None:
            return _json(404, {"error": "metrics are switched off (--metrics false)"})
        ready = not await self.unready_reasons()
        if ready:
            # Lag, topic and broker counts come from the metadata store; when it does not answer,
            # the last figures are served with streamhouse_ready 0.
            try:
                await asyncio.wait_for(metrics.refresh(), READY_TIMEOUT)
            except Exception as exc:  # a failed refresh must not fail the scrape: the last figures stay
                log.warning("metrics refresh failed: %s", exc)
                ready = False
        metrics.snapshot.ready = ready
        return 200, CONTENT_TYPE_LATEST, await metrics.render()

    async def missing_objects(self) -> dict[str, dict[str, object]]:
        """The partitions whose reads found their object gone, by "topic-partition" (topic id if unknown)."""
        missing = self.broker.log.missing_objects()
        if not missing:
            return {}
        try:
            names = {topic.topic_id: topic.name for topic in await self.broker.topics.all()}
        except Exception as exc:  # the metadata store's failure is a reason of its own: name topics by id
            log.debug("topic names for /ready: %s", exc)
            names = {}
        return {
            f"{names.get(topic_id, topic_id)}-{partition}": {
                "object": entry.object_key,
                "offsets": [entry.base_offset, entry.last_offset],
            }
            for (topic_id, partition), entry in sorted(missing.items(), key=lambda item: (str(item[0][0]), item[0][1]))
        }

    async def unready_reasons(self) -> dict[str, str]:
        """Why the broker is not ready, per part (listener, metadata, objects); empty when it is."""
        reasons: dict[str, str] = {}
        if not self.broker.listening:
            reasons["listener"] = "the Kafka listener is not accepting connections"
        for part, check in (("metadata", self.broker.metadata.check), ("objects", self.broker.objects.check)):
            try:
                await asyncio.wait_for(check(), READY_TIMEOUT)
            except TimeoutError:
                reasons[part] = f"no answer within {READY_TIMEOUT:g} s"
            except Exception as exc:  # any failure of a check means not ready; the reason says which
                reasons[part] = f"{type(exc).__name__}: {exc}"
        return reasons


async def _read_head(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], int | None]:
    """The request line and headers (names in lower case); or why the request is refused (414, 431)."""
    headers: dict[str, str] = {}
    try:
        request_line = await reader.readline()
    except ValueError:  # longer than the reader's limit
        return b"", headers, 414
    if len(request_line) > MAX_REQUEST_LINE_BYTES:
        return b"", headers, 414
    header_bytes = 0
    while True:
        try:
            line = await reader.readline()
        except ValueError:
            return request_line, headers, 431
        header_bytes += len(line)
        if header_bytes > MAX_HEADER_BYTES:
            return request_line, headers, 431
        if not line.strip():
            return request_line, headers, None
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read what the client still sends, up to LINGER_BYTES or LINGER_SECONDS, so that closing does not reset."""
    received = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while received < LINGER_BYTES:
                data = await reader.read(64 * 1024)
                if not data:
                    return
                received += len(data)


def _json(status: int, body: dict[str, object]) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(body).encode()
