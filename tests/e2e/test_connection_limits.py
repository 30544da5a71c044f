"""Hostile connections meet Kafka's bounds: idle ones are closed, ones over --max-connections or
--max-connections-per-ip are closed at once (the others unaffected), and a client that never reads its
answers stops being read, its memory bounded, while other clients are still answered.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.connection_memory import all_topics_metadata_frame, create_topics
from benchmarks.servers import rss_mib
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient

IDLE_MS = 1000
# A client that never reads may make the broker hold its socket buffers and one connection's bounds
# (backlog, requests in flight, unsent responses: a few MiB), not what it keeps sending.
NEVER_READ_RSS_BOUND_MIB = 64


def answers_api_versions(client: WireClient) -> bool:
    return client.request(API_VERSIONS, 3, API_VERSIONS.Request()).error_code == 0


def connect_from(source_host: str, broker: BrokerProcess) -> WireClient:
    """A connection whose source address is `source_host` (any 127.0.0.0/8 address reaches the broker)."""
    return WireClient(broker.bootstrap, source_host=source_host)


@pytest.fixture
def limited_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        tmp_path / "broker",
        ["--connections-max-idle-ms", str(IDLE_MS), "--max-connections", "4", "--max-connections-per-ip", "3"],
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_an_idle_connection_is_closed_and_a_busy_one_is_not(limited_broker: BrokerProcess) -> None:
    with WireClient(limited_broker.bootstrap) as idle, WireClient(limited_broker.bootstrap) as busy:
        assert answers_api_versions(idle)
        deadline = time.monotonic() + 4 * IDLE_MS / 1000
        while time.monotonic() < deadline:  # a request every quarter of the idle time keeps it open
            assert answers_api_versions(busy)
            time.sleep(IDLE_MS / 4000)
        assert idle.is_closed_by_peer()
        assert answers_api_versions(busy)
    assert f"idle for more than {IDLE_MS} ms" in limited_broker.log_text()


def test_a_connection_over_max_connections_per_ip_is_closed_and_the_others_are_answered(
    limited_broker: BrokerProcess,
) -> None:
    clients = [connect_from("127.0.0.1", limited_broker) for _ in range(3)]
    extra = connect_from("127.0.0.1", limited_broker)
    other_host = connect_from("127.0.0.2", limited_broker)  # the fourth of --max-connections 4
    try:
        assert extra.is_closed_by_peer()
        assert all(answers_api_versions(client) for client in clients)
        assert answers_api_versions(other_host)
    finally:
        for client in [*clients, extra, other_host]:
            client.close()
    assert "--max-connections-per-ip 3 reached for 127.0.0.1" in limited_broker.log_text()


def test_a_connection_over_max_connections_is_closed_and_the_others_are_answered(
    limited_broker: BrokerProcess,
) -> None:
    clients = [connect_from(host, limited_broker) for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")]
    extra = connect_from("127.0.0.5", limited_broker)
    try:
        assert extra.is_closed_by_peer()
        assert all(answers_api_versions(client) for client in clients)
    finally:
        for client in [*clients, extra]:
            client.close()
    assert "--max-connections 4 reached" in limited_broker.log_text()


def send_until_not_read(sock: socket.socket, frames: bytes, stopped_reading: threading.Event) -> None:
    """Send until a send waits a whole second: the broker no longer reads this connection."""
    sock.settimeout(1.0)
    while True:
        try:
            sock.sendall(frames)
        except TimeoutError:
            stopped_reading.set()
            return


def test_a_client_that_never_reads_stops_being_read_and_others_are_still_answered(broker: BrokerProcess) -> None:
    assert broker.process is not None
    create_topics(broker.bootstrap, 300, "never-read-")
    before = rss_mib(broker.process.pid)
    frames = b"".join(all_topics_metadata_frame(index) for index in range(100))
    stopped_reading = threading.Event()
    with socket.create_connection(("127.0.0.1", broker.port)) as hostile:
        sender = threading.Thread(target=send_until_not_read, args=(hostile, frames, stopped_reading), daemon=True)
        sender.start()
        sender.join(60)
        assert stopped_reading.is_set()
        with WireClient(broker.bootstrap) as other:
            assert answers_api_versions(other)
        assert rss_mib(broker.process.pid) - before < NEVER_READ_RSS_BOUND_MIB
