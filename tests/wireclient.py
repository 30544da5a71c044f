"""A blocking Kafka connection speaking our own codecs, for tests that send exact (or broken) frames.

It is broker.client's connection (requests at an exact version, raw frames), plus a check that
the broker closed the connection.
"""

from __future__ import annotations

import ssl
from typing import Any

from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol.apis.produce import PRODUCE


def produce_body(topic: str, records: bytes | None, *, partition: int = 0, acks: int = -1) -> Any:
    """A Produce request body carrying `records` (a record batch, or None) for one partition."""
    data = PRODUCE.Request.TopicProduceData
    return PRODUCE.Request(
        acks=acks,
        timeout_ms=30_000,
        topic_data=[data(name=topic, partition_data=[data.PartitionProduceData(index=partition, records=records)])],
    )


class WireClient(BrokerConnection):
    def __init__(
        self,
        bootstrap: str,
        timeout: float = 10.0,
        source_host: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(bootstrap, timeout, client_id="test", source_host=source_host)
        if ssl_context is not None:  # a TLS listener: the handshake now, checking the certificate against localhost
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="localhost")

    def __enter__(self) -> WireClient:
        return self

    def is_closed_by_peer(self) -> bool:
        """True when the broker closed the connection (reads EOF or a reset)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
