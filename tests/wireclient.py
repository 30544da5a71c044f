"""A blocking Kafka connection speaking our own codecs: for tests that send exact (or broken) frames."""

from __future__ import annotations

import socket
import struct
from typing import Any

from protocol import wire
from protocol.codec import ApiCodec


class WireClient:
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive_frame(self) -> bytes:
        size = struct.unpack(">i", self._read(4))[0]
        return self._read(size)

    def request(self, api: ApiCodec, version: int, body: Any, client_id: str | None = "test") -> Any:
        self.correlation_id += 1
        self.send_raw(wire.encode_request(api, version, self.correlation_id, client_id, body))
        correlation_id, response = wire.decode_response(api, version, self.receive_frame())
        assert correlation_id == self.correlation_id
        return response

    def is_closed_by_peer(self) -> bool:
        """True when the broker closed the connection (reads EOF or a reset)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = self.sock.recv(size)
            if not chunk:
                raise ConnectionError("closed by peer")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
