"""TLS listeners end to end: stock clients over SSL (with and without client certificates), named
listeners with their advertised addresses, what a TLS port does with plaintext bytes and stalled
handshakes, certificates reloaded on SIGHUP, and --metrics-host."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.describe_cluster import DESCRIBE_CLUSTER
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.wire import encode_request
from tests.brokerproc import BrokerProcess
from tests.tlscerts import Issued, TestCA
from tests.wireclient import WireClient

pytestmark = pytest.mark.e2e

KEY_PASSWORD = "server-key-secret"
HANDSHAKE_TIMEOUT_MS = 500
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def alice(ca: TestCA) -> Issued:
    return ca.client("alice", common_name="alice", organization="Example, Inc.")


def tls_args(server: Issued, ca: TestCA, client_auth: str) -> list[str]:
    return [
        "--ssl-certfile", str(server.cert), "--ssl-keyfile", str(server.key), "--ssl-key-password", KEY_PASSWORD,
        "--ssl-cafile", str(ca.cert), "--ssl-client-auth", client_auth,
        "--ssl-handshake-timeout-ms", str(HANDSHAKE_TIMEOUT_MS),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> Iterator[BrokerProcess]:
    """A PLAINTEXT and an SSL listener; client certificates checked when given."""
    server = ca.server(password=KEY_PASSWORD)
    listeners = ["--listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"]
    process = BrokerProcess(
        tmp_path_factory.mktemp("tls-broker"), [*listeners, *tls_args(server, ca, "requested")]
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> Iterator[BrokerProcess]:
    """One SSL listener that requires a client certificate."""
    server = ca.server(password=KEY_PASSWORD)
    process = BrokerProcess(
        tmp_path_factory.mktemp("mtls-broker"), ["--listeners", "SSL://127.0.0.1:0", *tls_args(server, ca, "required")]
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def client_context(ca: TestCA, client: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def confluent_ssl(ca: TestCA, client: Issued | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"security.protocol": "SSL", "ssl.ca.location": str(ca.cert)}
    if client is not None:
        settings |= {"ssl.certificate.location": str(client.cert), "ssl.key.location": str(client.key)}
    return settings


def confluent_round_trip(bootstrap: str, topic: str, security: dict[str, Any]) -> list[bytes]:
    """Produce three records and consume them back with confluent-kafka; the values read."""
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": bootstrap, **security})
    for index in range(3):
        producer.produce(topic, value=f"record-{index}".encode())
    assert producer.flush(TIMEOUT) == 0, "records left undelivered"
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}-group", "auto.offset.reset": "earliest", **security}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(values) < 3 and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                values.append(message.value())
    finally:
        consumer.close()
    return values


RECORDS = [b"record-0", b"record-1", b"record-2"]


def test_confluent_kafka_over_tls(tls_broker: BrokerProcess, ca: TestCA) -> None:
    bootstrap = tls_broker.bootstrap_of("SSL")
    assert confluent_round_trip(bootstrap, "tls-confluent", confluent_ssl(ca, None)) == RECORDS


def test_confluent_kafka_with_a_client_certificate_is_its_subject(
    tls_broker: BrokerProcess, ca: TestCA, alice: Issued
) -> None:
    bootstrap = tls_broker.bootstrap_of("SSL")
    assert confluent_round_trip(bootstrap, "tls-confluent-mtls", confluent_ssl(ca, alice)) == RECORDS
    assert "authenticated by its certificate as User:CN=alice,O=Example\\, Inc." in tls_broker.log_text()


def test_kafka_python_over_tls(tls_broker: BrokerProcess, ca: TestCA) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    bootstrap = tls_broker.bootstrap_of("SSL")
    security = {"security_protocol": "SSL", "ssl_cafile": str(ca.cert)}
    producer = KafkaProducer(bootstrap_servers=bootstrap, **security)
    for value in RECORDS:
        producer.send("tls-kafka-python", value)
    producer.flush(TIMEOUT)
    producer.close()
    consumer = KafkaConsumer(
        "tls-kafka-python",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(TIMEOUT * 1000),
        **security,
    )
    values = []
    for message in consumer:
        values.append(message.value)
        if len(values) == len(RECORDS):
            break
    consumer.close()
    assert values == RECORDS


def test_kcat_over_tls(tls_broker: BrokerProcess, ca: TestCA) -> None:
    security = ["-X", "security.protocol=ssl", "-X", f"ssl.ca.location={ca.cert}"]
    bootstrap = ["-b", tls_broker.bootstrap_of("SSL")]
    subprocess.run(
        ["kcat", "-P", *bootstrap, *security, "-t", "tls-kcat"], input=b"one\ntwo\n", check=True, timeout=TIMEOUT
    )
    consumed = subprocess.run(
        ["kcat", "-C", *bootstrap, *security, "-t", "tls-kcat", "-o", "beginning", "-e", "-q"],
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
    )
    assert consumed.stdout.split() == [b"one", b"two"]


def brokers_seen(bootstrap: str, context: ssl.SSLContext | None = None) -> dict[str, list[tuple[int, str, int]]]:
    """Each broker-naming answer (Metadata, DescribeCluster, FindCoordinator) through one listener."""
    with WireClient(bootstrap, ssl_context=context) as client:
        metadata = client.request(METADATA, 12, METADATA.Request(topics=[]))
        cluster = client.request(DESCRIBE_CLUSTER, 0, DESCRIBE_CLUSTER.Request())
        coordinator = client.request(FIND_COORDINATOR, 3, FIND_COORDINATOR.Request(key="a-group", key_type=0))
    return {
        "metadata": [(b.node_id, b.host, b.port) for b in metadata.brokers],
        "describe_cluster": [(b.broker_id, b.host, b.port) for b in cluster.brokers],
        "find_coordinator": [(coordinator.node_id, coordinator.host, coordinator.port)],
    }


def test_each_listener_advertises_its_own_address(tls_broker: BrokerProcess, ca: TestCA) -> None:
    plaintext, tls = tls_broker.listener_ports["PLAINTEXT"], tls_broker.listener_ports["SSL"]
    for port, context in ((plaintext, None), (tls, client_context(ca))):
        seen = brokers_seen(f"127.0.0.1:{port}", context)
        assert seen == {key: [(0, "127.0.0.1", port)] for key in seen}


def test_two_listener_names_of_one_protocol_advertise_what_they_are_told(tmp_path: Path) -> None:
    process = BrokerProcess(
        tmp_path,
        [
            "--listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
            "--listener-security-protocol-map", "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "--advertised-listeners", "INTERNAL://streamhouse:9092,EXTERNAL://localhost:19092",
        ],
    ).start()  # fmt: skip
    try:
        internal = brokers_seen(process.bootstrap_of("INTERNAL"))
        external = brokers_seen(process.bootstrap_of("EXTERNAL"))
    finally:
        assert process.stop() == 0
    assert internal == {key: [(0, "streamhouse", 9092)] for key in internal}
    assert external == {key: [(0, "localhost", 19092)] for key in external}


def api_versions_frame() -> bytes:
    return encode_request(API_VERSIONS, 0, 1, "plaintext-on-tls", API_VERSIONS.Request())


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the broker sends until it closes the connection (a reset counts as the close)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_plaintext_bytes_on_a_tls_port_close_the_connection(tls_broker: BrokerProcess, ca: TestCA) -> None:
    with socket.create_connection(("127.0.0.1", tls_broker.listener_ports["SSL"]), timeout=TIMEOUT) as sock:
        sock.sendall(api_versions_frame())
        received = read_until_closed(sock)
    # No Kafka answer: at most a TLS alert record (content type 21) before the close.
    assert received == b"" or received[0] == 21
    assert brokers_seen(tls_broker.bootstrap_of("SSL"), client_context(ca))["metadata"]  # still serving


def test_a_stalled_handshake_is_closed_after_the_handshake_timeout(tls_broker: BrokerProcess) -> None:
    with socket.create_connection(("127.0.0.1", tls_broker.listener_ports["SSL"]), timeout=TIMEOUT) as sock:
        # Nothing sent: the broker closes it unanswered (a socket timeout here would fail the test).
        assert read_until_closed(sock) == b""


def test_required_client_certificates_close_connections_without_one(
    mtls_broker: BrokerProcess, ca: TestCA, alice: Issued
) -> None:
    port = mtls_broker.listener_ports["SSL"]
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        try:
            with client_context(ca).wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(api_versions_frame())  # TLS 1.3: the server's refusal comes after the client's finish
                closed = sock.recv(65536) == b""
        except (ssl.SSLError, ConnectionResetError):
            closed = True
    assert closed
    assert confluent_round_trip(f"127.0.0.1:{port}", "mtls-required", confluent_ssl(ca, alice)) == RECORDS


def served_certificate(port: int, ca: TestCA) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        client_context(ca).wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        served = sock.getpeercert(binary_form=True)
    assert served is not None
    return served


def der(issued: Issued) -> bytes:
    return ssl.PEM_cert_to_DER_cert(issued.cert.read_text())


def test_sighup_reloads_the_certificate_without_a_restart(tmp_path: Path, ca: TestCA) -> None:
    first = ca.server("reloaded", common_name="first", password=KEY_PASSWORD)
    process = BrokerProcess(
        tmp_path / "broker", ["--listeners", "SSL://127.0.0.1:0", *tls_args(first, ca, "none")]
    ).start()
    try:
        port = process.listener_ports["SSL"]
        before = served_certificate(port, ca)
        assert before == der(first)
        second = ca.server("reloaded", common_name="second", password=KEY_PASSWORD)  # same files, new contents
        assert process.process is not None
        process.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while "reloaded TLS certificate" not in process.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served_certificate(port, ca) == der(second) != before
        assert process.process.poll() is None  # the same process
    finally:
        assert process.stop() == 0, process.log_text()[-4000:]


def test_metrics_host_binds_the_http_port_alone(tmp_path: Path) -> None:
    process = BrokerProcess(tmp_path, ["--metrics-host", "127.0.0.2"]).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.2:{process.http_port}/health", timeout=TIMEOUT) as answer:
            assert answer.status == 200
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", process.http_port), timeout=TIMEOUT).close()
    finally:
        assert process.stop() == 0
