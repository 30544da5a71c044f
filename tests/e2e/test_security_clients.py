"""Each stock client logs in over TLS and SASL and round-trips one record: kafka-python and aiokafka with
PLAIN and SCRAM over SASL_SSL, kcat with SCRAM, kafkajs with each mechanism, confluent-kafka with
OAUTHBEARER (Kafka's unsecured tokens) and over SSL with and without a client certificate (mutual TLS).
Plus the scenarios of kafka-python's own SASL tests (test/integration/test_sasl_integration.py, which skip
themselves against an external broker), over SASL_PLAINTEXT as they run them.

The SASL broker (a SASL_SSL and a SASL_PLAINTEXT listener) runs without an authorizer: authentication is
under test here, ACLs in test_security_done_when.py. Topics are auto-created (one partition) by the first
produce.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from compat.clients import kafkajs, message_from_json
from tests.brokerproc import BrokerProcess
from tests.e2e.security import (
    ADMIN,
    ADMIN_PASSWORD,
    ALICE,
    ALICE_PASSWORD,
    TIMEOUT,
    add_admin_and_alice,
    confluent_connect_errors,
    confluent_consume,
    confluent_produce_one,
)
from tests.securebroker import SASL_MECHANISMS, listener_args
from tests.sessionserver import free_port
from tests.tlsfiles import TlsFiles

# alice is stored for SCRAM-SHA-256 (PLAIN checks her password against it), admin for SCRAM-SHA-512.
CREDENTIALS = {
    "PLAIN": (ALICE, ALICE_PASSWORD),
    "SCRAM-SHA-256": (ALICE, ALICE_PASSWORD),
    "SCRAM-SHA-512": (ADMIN, ADMIN_PASSWORD),
}
MECHANISMS = list(CREDENTIALS)


class SaslBroker(NamedTuple):
    sasl_ssl: str  # the address of each listener
    sasl_plaintext: str


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[SaslBroker]:
    data_dir = tmp_path_factory.mktemp("sasl")
    add_admin_and_alice(data_dir)
    mechanisms = f"{SASL_MECHANISMS},OAUTHBEARER"
    args = listener_args("SASL_SSL", free_port(), tls, mechanisms)
    plaintext = free_port()
    args[args.index("--listeners") + 1] += f",SASL_PLAINTEXT://127.0.0.1:{plaintext}"  # a second listener
    process = BrokerProcess(data_dir, args).start()
    yield SaslBroker(process.bootstrap, f"127.0.0.1:{plaintext}")
    assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture(scope="module")
def sasl_ssl(sasl_broker: SaslBroker) -> str:
    """The SASL_SSL listener's address."""
    return sasl_broker.sasl_ssl


def ssl_broker(data_dir: Path, tls: TlsFiles, client_auth: str) -> BrokerProcess:
    """A broker whose one listener is SSL, asking for client certificates as `client_auth` says."""
    args = [*listener_args("SSL", free_port(), tls), "--ssl-cafile", str(tls.ca_pem), "--ssl-client-auth", client_auth]
    return BrokerProcess(data_dir, args).start()


def value_for(client: str, mechanism: str) -> bytes:
    return f"{client} over {mechanism}".encode()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_sasl_ssl(sasl_ssl: str, tls: TlsFiles, mechanism: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    user, password = CREDENTIALS[mechanism]
    settings: dict[str, Any] = {
        "bootstrap_servers": sasl_ssl,
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(tls.ca_pem),
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    topic, value = f"kafka-python-{mechanism}", value_for("kafka-python", mechanism)
    producer = KafkaProducer(**settings)
    try:
        producer.send(topic, value, partition=0).get(TIMEOUT)
    finally:
        producer.close()
    consumer = KafkaConsumer(**settings, group_id=None, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while not values and time.monotonic() < deadline:
            values += [record.value for records in consumer.poll(timeout_ms=1000).values() for record in records]
    finally:
        consumer.close()
    assert values == [value]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiokafka_sasl_ssl(sasl_ssl: str, tls: TlsFiles, mechanism: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.helpers import create_ssl_context

    user, password = CREDENTIALS[mechanism]
    topic, value = f"aiokafka-{mechanism}", value_for("aiokafka", mechanism)

    async def round_trip() -> list[bytes]:
        settings: dict[str, Any] = {
            "bootstrap_servers": sasl_ssl,
            "security_protocol": "SASL_SSL",
            "ssl_context": create_ssl_context(cafile=str(tls.ca_pem)),
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
        producer = AIOKafkaProducer(**settings)
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, value, partition=0), TIMEOUT)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**settings, group_id=None, enable_auto_commit=False)
        await consumer.start()
        values: list[bytes] = []
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            deadline = time.monotonic() + TIMEOUT
            while not values and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=1000)
                values += [record.value for records in batches.values() for record in records]
        finally:
            await consumer.stop()
        return values

    assert asyncio.run(round_trip()) == [value]


def test_kcat_sasl_ssl_scram(sasl_ssl: str, tls: TlsFiles) -> None:
    mechanism = "SCRAM-SHA-256"
    user, password = CREDENTIALS[mechanism]
    settings = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(tls.ca_pem),
    }
    flags = [part for name, value in settings.items() for part in ("-X", f"{name}={value}")]
    topic, value = "kcat-scram", value_for("kcat", mechanism).decode()
    common = ["kcat", "-b", sasl_ssl, "-t", topic, "-p", "0", *flags]
    subprocess.run([*common, "-P"], input=value + "\n", text=True, timeout=TIMEOUT, check=True, capture_output=True)
    read = subprocess.run(
        [*common, "-C", "-o", "beginning", "-c", "1", "-e", "-f", "%s\n"],
        text=True,
        timeout=TIMEOUT,
        check=True,
        capture_output=True,
    )
    assert read.stdout.splitlines() == [value]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafkajs_sasl_ssl(sasl_ssl: str, tls: TlsFiles, mechanism: str) -> None:
    user, password = CREDENTIALS[mechanism]
    security = {
        "ca": str(tls.ca_pem),
        "sasl": {"mechanism": mechanism.lower(), "username": user, "password": password},
    }
    topic, value = f"kafkajs-{mechanism}", value_for("kafkajs", mechanism).decode()
    message = {"key": None, "payload": value, "partition": 0, "headers": [], "ts": None}
    kafkajs("produce", sasl_ssl, topic, {"security": security, "codec": "none", "messages": [message]})
    answer = kafkajs("read", sasl_ssl, topic, {"security": security, "partitions": [0], "count": 1})
    assert [message_from_json(item).value for item in answer] == [value.encode()]


def test_confluent_oauthbearer(sasl_ssl: str, tls: TlsFiles) -> None:
    """OAUTHBEARER with an unsecured token (the broker has no JWKS): its principal is the token's subject."""
    config = {
        "bootstrap.servers": sasl_ssl,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(tls.ca_pem),
        "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": f"principal={ALICE}",
    }
    topic, value = "confluent-oauthbearer", value_for("confluent-kafka", "OAUTHBEARER")
    assert confluent_produce_one(config, topic, value) is None
    assert confluent_consume(config, topic, "oauthbearer-group", 1) == [value]


def test_confluent_ssl_without_client_certificate(tmp_path: Path, tls: TlsFiles) -> None:
    broker = ssl_broker(tmp_path / "ssl", tls, "none")
    try:
        config = {"bootstrap.servers": broker.bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(tls.ca_pem)}
        topic, value = "confluent-ssl", value_for("confluent-kafka", "SSL")
        assert confluent_produce_one(config, topic, value) is None
        assert confluent_consume(config, topic, "ssl-group", 1) == [value]
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


def test_confluent_mutual_tls(tmp_path: Path, tls: TlsFiles) -> None:
    """With client certificates required, a client presenting one signed by the CA gets in; one without
    a certificate fails its TLS handshake: the broker closes the connection, so the client's only broker
    is down (_ALL_BROKERS_DOWN) and it gets no metadata."""
    from confluent_kafka import KafkaError, KafkaException, Producer

    broker = ssl_broker(tmp_path / "mtls", tls, "required")
    try:
        config = {"bootstrap.servers": broker.bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(tls.ca_pem)}
        with_certificate = {
            **config,
            "ssl.certificate.location": str(tls.client_cert),
            "ssl.key.location": str(tls.client_key),
            "ssl.key.password": tls.password,
        }
        topic, value = "confluent-mtls", value_for("confluent-kafka", "mutual TLS")
        assert confluent_produce_one(with_certificate, topic, value) is None
        assert confluent_consume(with_certificate, topic, "mtls-group", 1) == [value]
        assert KafkaError._ALL_BROKERS_DOWN in confluent_connect_errors(config, KafkaError._ALL_BROKERS_DOWN)
        with pytest.raises(KafkaException):
            Producer(config).list_topics(timeout=5)
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_sasl_integration_scenarios(sasl_broker: SaslBroker, mechanism: str) -> None:
    """kafka-python's test_sasl_integration.py over SASL_PLAINTEXT: its admin creates a topic of two
    partitions (and lists it), its producer writes 100 records across them, a group consumer reads 50
    from each."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    user, password = CREDENTIALS[mechanism]
    settings: dict[str, Any] = {
        "bootstrap_servers": sasl_broker.sasl_plaintext,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    topic = f"kafka-python-sasl-integration-{mechanism}"
    admin = KafkaAdminClient(**settings)
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(**settings)
    try:
        futures = [producer.send(topic, value=f"{i}-{mechanism}".encode(), partition=i % 2) for i in range(100)]
        producer.flush(TIMEOUT)
    finally:
        producer.close()
    assert all(future.succeeded() for future in futures)
    consumer = KafkaConsumer(topic, **settings, group_id=f"sasl-integration-{mechanism}", auto_offset_reset="earliest")
    per_partition = {0: 0, 1: 0}
    deadline = time.monotonic() + TIMEOUT
    try:
        while sum(per_partition.values()) < 100 and time.monotonic() < deadline:
            for partition, records in consumer.poll(timeout_ms=1000).items():
                per_partition[partition.partition] += len(records)
    finally:
        consumer.close()
    assert per_partition == {0: 50, 1: 50}
