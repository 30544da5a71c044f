"""ACLs end to end: stock admin clients, `streamhouse acls`, and refusals seen by real producers.

Until SASL or TLS authenticates clients, every client is User:ANONYMOUS. The admin tests run a broker
with `--authorizer acl --super-users User:ANONYMOUS`; the refusal tests run one without super users,
whose bindings the test writes into the broker's own metadata store (the SQLite file it serves
from), which the broker must pick up within a second like a change made through any other broker.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.security.authorizer import Operation, PatternType, Permission, ResourceType
from streamhouse.metadata.base import AclBinding
from streamhouse.metadata.sqlite import SqliteMetadataStore
from tests.brokerproc import BrokerProcess

pytestmark = pytest.mark.e2e
TIMEOUT = 30.0
SUPER = ("--authorizer", "acl", "--super-users", "User:ANONYMOUS")


@pytest.fixture(scope="module")
def admin_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path_factory.mktemp("acl-admin"), SUPER).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path, ("--authorizer", "acl", "--num-partitions", "1")).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def confluent_admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def test_confluent_admin_client_creates_describes_and_deletes_acls(admin_broker: BrokerProcess) -> None:
    from confluent_kafka.admin import (
        AclBinding as Binding,
    )
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    admin = confluent_admin(admin_broker.bootstrap)
    read = Binding(
        ResourceType.TOPIC, "cf-orders", ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ,
        AclPermissionType.ALLOW,
    )  # fmt: skip
    deny = Binding(
        ResourceType.GROUP, "cf-", ResourcePatternType.PREFIXED, "User:bob", "10.0.0.1", AclOperation.ALL,
        AclPermissionType.DENY,
    )  # fmt: skip
    for future in admin.create_acls([read, deny], request_timeout=TIMEOUT).values():
        assert future.result() is None
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    assert sorted(admin.describe_acls(everything, request_timeout=TIMEOUT).result(), key=str) == sorted(
        [read, deny], key=str
    )
    topics_only = AclBindingFilter(
        ResourceType.TOPIC, "cf-orders", ResourcePatternType.MATCH, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    assert admin.describe_acls(topics_only, request_timeout=TIMEOUT).result() == [read]
    deleted = admin.delete_acls([topics_only], request_timeout=TIMEOUT)
    assert [future.result() for future in deleted.values()] == [[read]]
    assert admin.describe_acls(everything, request_timeout=TIMEOUT).result() == [deny]
    admin.delete_acls([everything], request_timeout=TIMEOUT)[everything].result()


def test_confluent_admin_client_gets_invalid_request_for_a_bad_binding(admin_broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AclBinding as Binding
    from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    admin = confluent_admin(admin_broker.bootstrap)
    wrong_cluster = Binding(
        ResourceType.BROKER, "not-kafka-cluster", ResourcePatternType.LITERAL, "User:alice", "*",
        AclOperation.ALTER, AclPermissionType.ALLOW,
    )  # fmt: skip
    [future] = admin.create_acls([wrong_cluster], request_timeout=TIMEOUT).values()
    with pytest.raises(KafkaException) as raised:
        future.result()
    assert raised.value.args[0].code() == KafkaError.INVALID_REQUEST


def test_kafka_python_admin_client_creates_describes_and_deletes_acls(admin_broker: BrokerProcess) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import ACL, ACLFilter, ACLOperation, ACLPermissionType, ResourcePattern
    from kafka.admin import ResourceType as KafkaResourceType
    from kafka.errors import NoError

    admin = KafkaAdminClient(bootstrap_servers=admin_broker.bootstrap, request_timeout_ms=30000)
    try:
        pattern = ResourcePattern(KafkaResourceType.TOPIC, "kp-orders")
        acl = ACL("User:carol", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW, pattern)
        created = admin.create_acls([acl])
        assert (len(created["succeeded"]), created["failed"]) == (1, [])
        acl_filter = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, pattern)
        found, error = admin.describe_acls(acl_filter)
        assert error is NoError
        assert [(a.principal, a.host, a.operation, a.permission_type) for a in found] == [
            ("User:carol", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW)
        ]
        [(_, matched, error)] = admin.delete_acls([acl_filter])
        assert error is NoError
        assert [a.principal for a in matched] == ["User:carol"]
        assert admin.describe_acls(acl_filter) == ([], NoError)
    finally:
        admin.close()


def streamhouse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "acls", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=Path(__file__).parents[2],
    )


def test_the_cli_adds_lists_and_removes_acls(admin_broker: BrokerProcess, tmp_path: Path) -> None:
    server = ("--bootstrap-server", admin_broker.bootstrap)
    added = streamhouse(
        "add", *server, "--topic", "cli-", "--resource-pattern-type", "prefixed", "--allow-principal", "User:dan",
        "--operation", "read", "--operation", "describe",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = streamhouse("list", *server, "--principal", "User:dan")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "TOPIC:cli- (PREFIXED) User:dan from *: ALLOW READ",
        "TOPIC:cli- (PREFIXED) User:dan from *: ALLOW DESCRIBE",
    ]
    matching = streamhouse("list", *server, "--topic", "cli-orders", "--resource-pattern-type", "match")
    assert len(matching.stdout.splitlines()) == 2
    removed = streamhouse(
        "remove", *server, "--topic", "cli-", "--resource-pattern-type", "prefixed", "--allow-principal", "User:dan",
        "--operation", "read",
    )  # fmt: skip
    assert (removed.returncode, removed.stdout.strip()) == (
        0,
        "removed TOPIC:cli- (PREFIXED) User:dan from *: ALLOW READ",
    )
    bad = streamhouse("add", *server, "--cluster", "--allow-principal", "dan")
    assert bad.returncode == 1
    assert "INVALID_REQUEST" in bad.stderr
    config = tmp_path / "client.properties"
    config.write_text("security.protocol=KERBEROS\n")
    unsupported = streamhouse("list", *server, "--command-config", str(config))
    assert unsupported.returncode == 1
    assert "KERBEROS" in unsupported.stderr


@pytest.fixture(scope="module")
def tls_proxy(admin_broker: BrokerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A TLS endpoint in front of the admin broker (which has no TLS listener): its address and CA file."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(source: socket.socket, target: socket.socket) -> None:
        with source, target:
            while data := source.recv(65536):
                target.sendall(data)

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # the listener closed
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()  # a client that refused our certificate
                continue
            upstream = socket.create_connection(("127.0.0.1", admin_broker.port))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}", cert
    listener.close()


def test_the_cli_speaks_tls_as_its_command_config_says(tls_proxy: tuple[str, Path], tmp_path: Path) -> None:
    address, ca = tls_proxy
    config = tmp_path / "client.properties"
    config.write_text(f"security.protocol=SSL\nssl.ca.location={ca}\n")
    listed = streamhouse("list", "--bootstrap-server", address, "--command-config", str(config))
    assert listed.returncode == 0, listed.stderr
    config.write_text("security.protocol=SSL\n")  # the system's CAs do not know the proxy's certificate
    untrusted = streamhouse("list", "--bootstrap-server", address, "--command-config", str(config))
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_the_cli_fails_cleanly_when_sasl_is_refused(admin_broker: BrokerProcess, tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=a\nsasl.password=b\n"
    )
    refused = streamhouse("list", "--bootstrap-server", admin_broker.bootstrap, "--command-config", str(config))
    assert refused.returncode == 1
    assert refused.stderr.startswith("streamhouse acls: "), refused.stderr  # a message, not a traceback


def test_the_cli_reports_a_broker_without_the_authorizer(broker: BrokerProcess) -> None:
    listed = streamhouse("list", "--bootstrap-server", broker.bootstrap)
    assert listed.returncode == 1
    assert "SECURITY_DISABLED" in listed.stderr


async def add_bindings(metadata_url: str, *bindings: AclBinding) -> None:
    store = SqliteMetadataStore(metadata_url.removeprefix("sqlite://"))
    await store.start()
    try:
        await store.acls.add_acls(bindings)
    finally:
        await store.close()


def produce(bootstrap: str, topic: str) -> Any:
    """One record with confluent-kafka: the delivery error, or None once acknowledged."""
    from confluent_kafka import Producer

    outcome: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10000, "enable.idempotence": False})
    producer.produce(topic, b"v", on_delivery=lambda error, _: outcome.append(error))
    producer.flush(TIMEOUT)
    return outcome[0]


def test_a_producer_is_refused_until_a_binding_reaches_the_broker(locked_broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError

    error = produce(locked_broker.bootstrap, "locked")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow = [
        AclBinding(ResourceType.TOPIC, "locked", PatternType.LITERAL, "User:*", "*", op, Permission.ALLOW)
        for op in (Operation.WRITE, Operation.CREATE)
    ]
    asyncio.run(add_bindings(locked_broker.metadata_url, *allow))
    written_at = time.monotonic()
    while produce(locked_broker.bootstrap, "locked") is not None:
        assert time.monotonic() - written_at < 10, "the binding never reached the broker"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{locked_broker.http_port}/metrics", timeout=TIMEOUT).read()
    denials = [line for line in metrics.decode().splitlines() if line.startswith("streamhouse_authorization_denials")]
    labels = {tuple(re.findall(r'(\w+)="(\w+)"', line)) for line in denials}
    assert (("operation", "describe"), ("resource_type", "topic")) in labels  # the producer's Metadata
    operations, resources = {op.name.lower() for op in Operation}, {kind.name.lower() for kind in ResourceType}
    assert all(op in operations and kind in resources for (_, op), (_, kind) in labels), labels  # bounded
