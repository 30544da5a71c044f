"""SASL end to end: stock clients authenticate with each mechanism, users are managed offline and
over the Kafka protocol, bad exchanges get their Kafka error (or a closed connection), others unaffected.

The broker listens on one SASL_PLAINTEXT listener (TLS under SASL_SSL: tests/e2e/test_security_done_when.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.errors import ErrorCode
from tests.brokerproc import BrokerProcess
from tests.e2e.conftest import backend_args
from tests.saslwire import ScramClient, authenticate, handshake, plain_token, scram_login
from tests.wireclient import WireClient

pytestmark = pytest.mark.e2e

MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
USER, PASSWORD = "alice", "alice-secret"
ROOT = Path(__file__).parents[2]


def users_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "users", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    data = tmp_path_factory.mktemp("sasl")
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        added = users_cli("add", USER, "--password", PASSWORD, "--mechanism", mechanism, "--data-dir", str(data))
        assert added.returncode == 0, added.stderr
    process = BrokerProcess(
        data, ["--listeners", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-mechanisms", MECHANISMS]
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def sasl_config(broker: BrokerProcess, mechanism: str, user: str = USER, password: str = PASSWORD) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
    }
    if mechanism == "OAUTHBEARER":
        config |= {"enable.sasl.oauthbearer.unsecure.jwt": True, "sasl.oauthbearer.config": f"principal={user}"}
    else:
        config |= {"sasl.username": user, "sasl.password": password}
    return config


def confluent_round_trip(config: dict[str, Any], topic: str) -> list[bytes]:
    """Produce three records and consume them back; the values read."""
    from confluent_kafka import Consumer, Producer

    producer = Producer(config)
    errors: list[object] = []
    for index in range(3):
        producer.produce(topic, f"v{index}".encode(), on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(30) == 0
    assert errors == [None] * 3
    consumer = Consumer(config | {"group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < 3 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    return values


@pytest.mark.parametrize("mechanism", MECHANISMS.split(","))
def test_confluent_kafka_produces_and_consumes_with_each_mechanism(sasl_broker: BrokerProcess, mechanism: str) -> None:
    topic = f"confluent-{mechanism.lower()}"
    assert confluent_round_trip(sasl_config(sasl_broker, mechanism), topic) == [b"v0", b"v1", b"v2"]


def python_client_settings(broker: BrokerProcess, mechanism: str) -> dict[str, Any]:
    """kafka-python's and aiokafka's settings (they share the names) for SASL as USER."""
    return {
        "bootstrap_servers": broker.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": USER,
        "sasl_plain_password": PASSWORD,
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kafka_python_produces_and_consumes(sasl_broker: BrokerProcess, mechanism: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    settings = python_client_settings(sasl_broker, mechanism)
    topic = f"kafka-python-{mechanism.lower()}"
    producer = KafkaProducer(**settings)
    producer.send(topic, b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10_000, **settings)
    assert [record.value for record in consumer][:1] == [b"hello"]
    consumer.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_aiokafka_produces_and_consumes(sasl_broker: BrokerProcess, mechanism: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    settings = python_client_settings(sasl_broker, mechanism)
    topic = f"aiokafka-{mechanism.lower()}"

    async def round_trip() -> bytes | None:
        producer = AIOKafkaProducer(**settings)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **settings)
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        return record.value

    assert asyncio.run(round_trip()) == b"hello"


def kcat(
    broker: BrokerProcess, *args: str, stdin: str | None = None, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-256"]
    sasl += ["-X", f"sasl.username={USER}", "-X", f"sasl.password={password}"]
    return subprocess.run(
        ["kcat", "-b", broker.bootstrap, *sasl, *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_kcat_produces_and_consumes_with_scram(sasl_broker: BrokerProcess) -> None:
    produced = kcat(sasl_broker, "-P", "-t", "kcat-scram", stdin="one\ntwo\n")
    assert produced.returncode == 0, produced.stderr
    consumed = kcat(sasl_broker, "-C", "-t", "kcat-scram", "-o", "beginning", "-e", "-q")
    assert consumed.stdout.split() == ["one", "two"], consumed.stderr


def test_kcat_with_a_wrong_password_fails(sasl_broker: BrokerProcess) -> None:
    listed = kcat(sasl_broker, "-L", "-m", "5", password="wrong")
    assert listed.returncode != 0
    assert "SASL authentication error" in listed.stderr or "Authentication failed" in listed.stderr, listed.stderr


# -- users: offline and over the Kafka protocol ------------------------------------------------


def test_users_cli_lists_and_deletes_and_a_running_broker_follows(sasl_broker: BrokerProcess) -> None:
    data = ["--data-dir", str(sasl_broker.data_dir)]
    added = users_cli("add", "carol", "--password", "carol-pw", "--iterations", "8192", *data)
    assert added.returncode == 0, added.stderr
    listed = users_cli("list", *data)
    assert "carol  SCRAM-SHA-256 (8192)" in listed.stdout
    stored = b"".join(path.read_bytes() for path in sasl_broker.data_dir.glob("metadata.db*"))
    assert b"carol-pw" not in stored and base64.b64encode(b"carol-pw") not in stored  # never the password
    assert "alice  SCRAM-SHA-256 (4096), SCRAM-SHA-512 (4096)" in listed.stdout
    time.sleep(1.0)  # every broker sees a change within a second
    with WireClient(sasl_broker.bootstrap) as client:
        assert scram_login(client, "SCRAM-SHA-256", "carol", "carol-pw").error_code == ErrorCode.NONE
    assert users_cli("delete", "carol", *data).returncode == 0
    assert "carol" not in users_cli("list", *data).stdout
    time.sleep(1.0)
    with WireClient(sasl_broker.bootstrap) as client:
        refused = scram_login(client, "SCRAM-SHA-256", "carol", "carol-pw")
        assert refused.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED


def test_users_cli_refuses_an_iteration_count_below_the_minimum(tmp_path: Path) -> None:
    refused = users_cli("add", "dave", "--password", "pw", "--iterations", "4095", "--data-dir", str(tmp_path))
    assert refused.returncode == 1
    assert "iterations must be between 4096 and 16384" in refused.stderr
    assert users_cli("list", "--data-dir", str(tmp_path)).stdout.splitlines()[1:] == []
    missing = users_cli("delete", "nobody", "--data-dir", str(tmp_path))
    assert missing.returncode == 1 and "no credentials for user nobody" in missing.stderr


def test_admin_client_alters_and_describes_scram_credentials(sasl_broker: BrokerProcess) -> None:
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )
    from confluent_kafka.error import KafkaException

    admin = AdminClient(sasl_config(sasl_broker, "SCRAM-SHA-512"))
    upsert = UserScramCredentialUpsertion(
        "erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 10_000), b"erin-pw", b"some-salt"
    )
    too_few = UserScramCredentialUpsertion(
        "frank", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"frank-pw", b"some-salt"
    )
    futures = admin.alter_user_scram_credentials([upsert, too_few], request_timeout=30)
    assert futures["erin"].result() is None
    with pytest.raises(KafkaException) as refused:
        futures["frank"].result()
    assert refused.value.args[0].code() == ErrorCode.UNACCEPTABLE_CREDENTIAL
    described = admin.describe_user_scram_credentials(["erin"], request_timeout=30)["erin"].result()
    assert [(info.mechanism, info.iterations) for info in described.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_512, 10_000)
    ]
    with WireClient(sasl_broker.bootstrap) as client:  # the broker that stored it knows it at once
        assert scram_login(client, "SCRAM-SHA-512", "erin", "erin-pw").error_code == ErrorCode.NONE
    unknown = admin.describe_user_scram_credentials(["nobody"], request_timeout=30)["nobody"]
    with pytest.raises(KafkaException) as missing:
        unknown.result()
    assert missing.value.args[0].code() == ErrorCode.RESOURCE_NOT_FOUND
    deleted = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_512)], request_timeout=30
    )
    assert deleted["erin"].result() is None
    with WireClient(sasl_broker.bootstrap) as client:
        assert (
            scram_login(client, "SCRAM-SHA-512", "erin", "erin-pw").error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        )


# -- SaslHandshake v0: bare tokens ---------------------------------------------------------


def raw_token(client: WireClient, token: bytes) -> bytes:
    client.send_raw(len(token).to_bytes(4, "big") + token)
    return client.receive_frame()


def test_handshake_v0_then_bare_plain_token(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "PLAIN", version=0).error_code == ErrorCode.NONE
        assert raw_token(client, plain_token(USER, PASSWORD)) == b""
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers


def test_handshake_v0_then_bare_scram_tokens(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "SCRAM-SHA-256", version=0).error_code == ErrorCode.NONE
        scram = ScramClient("SCRAM-SHA-256", USER, PASSWORD)
        server_first = raw_token(client, scram.first())
        assert raw_token(client, scram.final(server_first)) == b"v=" + base64.b64encode(scram.server_signature)
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers


def test_handshake_v0_with_a_wrong_password_closes_the_connection(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "PLAIN", version=0).error_code == ErrorCode.NONE
        client.send_raw(len(token := plain_token(USER, "wrong")).to_bytes(4, "big") + token)
        assert client.is_closed_by_peer()


# -- bad input: each with its answer -------------------------------------------------------------


def still_serves(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert scram_login(client, "SCRAM-SHA-256", USER, PASSWORD).error_code == ErrorCode.NONE
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers


def failed_then_closed(client: WireClient, response: Any) -> None:
    assert response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert response.error_message.startswith("Authentication failed")
    assert client.is_closed_by_peer()


def test_wrong_password_plain(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "PLAIN").error_code == ErrorCode.NONE
        started = time.monotonic()
        response = authenticate(client, plain_token(USER, "wrong"))
        assert time.monotonic() - started >= 0.1  # connection.failed.authentication.delay.ms
        failed_then_closed(client, response)
    still_serves(sasl_broker)


def test_wrong_password_scram(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        failed_then_closed(client, scram_login(client, "SCRAM-SHA-512", USER, "wrong"))
    still_serves(sasl_broker)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_unknown_user(sasl_broker: BrokerProcess, mechanism: str) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        if mechanism == "PLAIN":
            assert handshake(client, mechanism).error_code == ErrorCode.NONE
            response = authenticate(client, plain_token("nobody", PASSWORD))
        else:
            response = scram_login(client, mechanism, "nobody", PASSWORD)
        failed_then_closed(client, response)
    still_serves(sasl_broker)


def test_unknown_mechanism_gets_the_enabled_list_then_the_connection_closes(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        response = handshake(client, "GSSAPI")
        assert response.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert response.mechanisms == MECHANISMS.split(",")
        assert client.is_closed_by_peer()
    still_serves(sasl_broker)


@pytest.mark.parametrize("forged", ["nonce", "proof"])
def test_scram_with_a_wrong_nonce_or_proof(sasl_broker: BrokerProcess, forged: str) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "SCRAM-SHA-256").error_code == ErrorCode.NONE
        scram = ScramClient("SCRAM-SHA-256", USER, PASSWORD)
        first = authenticate(client, scram.first())
        if forged == "nonce":
            final = scram.final(first.auth_bytes, nonce=scram.nonce + "forged")
        else:
            final = scram.final(first.auth_bytes)
            final = final[: final.rindex(b",p=")] + b",p=" + base64.b64encode(bytes(32))
        response = authenticate(client, final)
        failed_then_closed(client, response)
        assert forged in response.error_message or "invalid credentials" in response.error_message
    still_serves(sasl_broker)


def test_a_1_mib_sasl_token_closes_the_connection(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "PLAIN").error_code == ErrorCode.NONE
        try:
            authenticate(client, plain_token(USER, "x" * (1024 * 1024)))
        except Exception:  # the broker closes while the client still writes or reads
            pass
        else:
            pytest.fail("a 1 MiB SASL token was answered")
        assert client.is_closed_by_peer()
    still_serves(sasl_broker)


def test_requests_before_authentication_close_the_connection(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        versions = client.request(
            API_VERSIONS, 3, API_VERSIONS.Request(client_software_name="t", client_software_version="1")
        )
        assert {17, 36, 50, 51} <= {entry.api_key for entry in versions.api_keys}  # ApiVersions is allowed
        with pytest.raises(Exception, match="closed the connection"):
            client.request(METADATA, 1, METADATA.Request(topics=[]))
    with WireClient(sasl_broker.bootstrap) as client:
        assert handshake(client, "PLAIN").error_code == ErrorCode.NONE
        with pytest.raises(Exception, match="closed the connection"):  # a handshake is not an authentication
            client.request(METADATA, 1, METADATA.Request(topics=[]))
    still_serves(sasl_broker)


def test_sasl_authenticate_without_a_handshake_is_an_illegal_state(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        response = authenticate(client, plain_token(USER, PASSWORD))
        assert response.error_code == ErrorCode.ILLEGAL_SASL_STATE
        assert client.is_closed_by_peer()


def test_authentications_are_counted_by_mechanism_and_result(sasl_broker: BrokerProcess) -> None:
    with WireClient(sasl_broker.bootstrap) as client:
        handshake(client, "NOT-A-MECHANISM")
    still_serves(sasl_broker)
    text = urllib.request.urlopen(f"http://127.0.0.1:{sasl_broker.http_port}/metrics", timeout=10).read().decode()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamhouse_authentications_total")
    }
    assert samples['streamhouse_authentications_total{mechanism="SCRAM-SHA-256",result="success"}'] >= 1
    assert samples['streamhouse_authentications_total{mechanism="unknown",result="failure"}'] >= 1
    assert {label.split('mechanism="')[1].split('"')[0] for label in samples} <= {*MECHANISMS.split(","), "unknown"}


# -- re-authentication (KIP-368) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def reauth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    data = tmp_path_factory.mktemp("reauth")
    for user, password in ((USER, PASSWORD), ("bob", "bob-pw")):
        assert users_cli("add", user, "--password", password, "--data-dir", str(data)).returncode == 0
    process = BrokerProcess(
        data,
        [
            "--listeners",
            "SASL_PLAINTEXT://127.0.0.1:0",
            "--sasl-mechanisms",
            "SCRAM-SHA-256,OAUTHBEARER",
            "--connections-max-reauth-ms",
            "2000",
        ],
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_confluent_kafka_keeps_producing_across_reauthentications(reauth_broker: BrokerProcess) -> None:
    from confluent_kafka import Producer

    producer = Producer(sasl_config(reauth_broker, "SCRAM-SHA-256"))
    errors: list[object] = []
    deadline = time.monotonic() + 6  # three session lifetimes
    while time.monotonic() < deadline:
        producer.produce("reauth", b"v", on_delivery=lambda error, _: errors.append(error))
        producer.flush(10)
        time.sleep(0.2)
    assert producer.flush(10) == 0
    assert errors and all(error is None for error in errors)
    assert reauth_broker.log_text().count(f"authenticated User:{USER}") >= 3  # it re-authenticated


def test_a_client_that_does_not_reauthenticate_is_closed_after_expiry(reauth_broker: BrokerProcess) -> None:
    with WireClient(reauth_broker.bootstrap) as client:
        response = scram_login(client, "SCRAM-SHA-256", USER, PASSWORD, version=1)
        assert response.session_lifetime_ms == 2000
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers
        time.sleep(2.2)
        with pytest.raises(Exception, match="closed the connection"):
            client.request(METADATA, 1, METADATA.Request(topics=[]))


def test_reauthentication_on_the_same_connection_renews_the_session(reauth_broker: BrokerProcess) -> None:
    with WireClient(reauth_broker.bootstrap) as client:
        assert scram_login(client, "SCRAM-SHA-256", USER, PASSWORD).error_code == ErrorCode.NONE
        time.sleep(1.5)
        assert scram_login(client, "SCRAM-SHA-256", USER, PASSWORD).session_lifetime_ms == 2000
        time.sleep(1.0)  # past the first session's end, within the second's
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers


def test_reauthentication_as_another_user_fails_and_closes(reauth_broker: BrokerProcess) -> None:
    with WireClient(reauth_broker.bootstrap) as client:
        assert scram_login(client, "SCRAM-SHA-256", USER, PASSWORD).error_code == ErrorCode.NONE
        response = scram_login(client, "SCRAM-SHA-256", "bob", "bob-pw")
        failed_then_closed(client, response)
        assert "re-authentication as User:bob" in response.error_message


def unsecured_token(principal: str, lifetime_s: float) -> str:
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = time.time()
    return f"{segment({'alg': 'none'})}.{segment({'sub': principal, 'iat': now, 'exp': now + lifetime_s})}."


def test_an_oauthbearer_session_ends_with_its_token(reauth_broker: BrokerProcess) -> None:
    with WireClient(reauth_broker.bootstrap) as client:
        assert handshake(client, "OAUTHBEARER").error_code == ErrorCode.NONE
        message = f"n,,\x01auth=Bearer {unsecured_token('bob', 1.0)}\x01\x01".encode()
        response = authenticate(client, message)
        assert response.error_code == ErrorCode.NONE
        assert 0 < response.session_lifetime_ms <= 1000


def test_an_expired_unsecured_token_is_refused(reauth_broker: BrokerProcess) -> None:
    with WireClient(reauth_broker.bootstrap) as client:
        assert handshake(client, "OAUTHBEARER").error_code == ErrorCode.NONE
        message = f"n,,\x01auth=Bearer {unsecured_token('bob', -10)}\x01\x01".encode()
        failed_then_closed(client, response := authenticate(client, message))
        assert "expired" in response.error_message


# -- several brokers on one PostgreSQL metadata store ----------------------------------------------


def test_a_user_added_through_one_broker_authenticates_at_another_within_a_second(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from streamhouse.protocol.apis.alter_user_scram_credentials import ALTER_USER_SCRAM_CREDENTIALS as ALTER

    shared = backend_args("postgresql", request)
    added = users_cli("add", USER, "--password", PASSWORD, *shared)  # offline, straight into PostgreSQL
    assert added.returncode == 0, added.stderr
    flags = ["--listeners", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-mechanisms", "SCRAM-SHA-256", *shared]
    first = BrokerProcess(tmp_path / "one", ["--broker-id", "1", *flags]).start()
    second = BrokerProcess(tmp_path / "two", ["--broker-id", "2", *flags]).start()
    try:
        salt = b"grace-salt"
        salted = hashlib.pbkdf2_hmac("sha256", b"grace-pw", salt, 4096)
        upsertion = ALTER.Request.ScramCredentialUpsertion(
            name="grace", mechanism=1, iterations=4096, salt=salt, salted_password=salted
        )
        with WireClient(first.bootstrap) as client:
            assert scram_login(client, "SCRAM-SHA-256", USER, PASSWORD).error_code == ErrorCode.NONE
            answer = client.request(ALTER, 0, ALTER.Request(deletions=[], upsertions=[upsertion]))
            assert [(result.user, result.error_code) for result in answer.results] == [("grace", ErrorCode.NONE)]
        time.sleep(1.0)
        with WireClient(second.bootstrap) as client:
            assert scram_login(client, "SCRAM-SHA-256", "grace", "grace-pw").error_code == ErrorCode.NONE
    finally:
        for broker in (first, second):
            assert broker.stop() == 0, broker.log_text()[-4000:]


def test_sasl_on_a_plaintext_listener_is_an_illegal_state(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        response = handshake(client, "PLAIN")
        assert (response.error_code, response.mechanisms) == (ErrorCode.ILLEGAL_SASL_STATE, [])
        assert authenticate(client, plain_token(USER, PASSWORD)).error_code == ErrorCode.ILLEGAL_SASL_STATE
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers  # no authentication needed
