"""Issue 28's "done when", through confluent-kafka: users made offline, one SASL_SSL listener with ACLs,
SCRAM and PLAIN logins, authorization before and after admin's CreateAcls, and no answer to plaintext.

Plus the same listener's ApiVersions list, read in raw frames over TLS before any authentication.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from tests.brokerproc import BrokerProcess
from tests.e2e.security import (
    ADMIN,
    ADMIN_PASSWORD,
    ALICE,
    ALICE_PASSWORD,
    add_admin_and_alice,
    confluent_config,
    confluent_connect_errors,
    confluent_consume,
    confluent_produce_one,
    sasl_ssl_broker,
)
from tests.tlsfiles import TlsFiles
from tests.wireclient import WireClient

# The APIs a client needs before and around authentication, by Kafka's API keys.
SECURITY_APIS = {
    "SaslHandshake": 17,
    "SaslAuthenticate": 36,
    "DescribeAcls": 29,
    "CreateAcls": 30,
    "DeleteAcls": 31,
    "DescribeUserScramCredentials": 50,
    "AlterUserScramCredentials": 51,
}
TLS_ALERT = 0x15  # a TLS record's content type for an alert


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[BrokerProcess]:
    """`users add` admin (SCRAM-SHA-512) and alice (SCRAM-SHA-256) offline, then the SASL_SSL broker."""
    data_dir = tmp_path_factory.mktemp("secured")
    add_admin_and_alice(data_dir)
    process = sasl_ssl_broker(data_dir, tls)
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_done_when(secured: BrokerProcess, tls: TlsFiles) -> None:
    from confluent_kafka import KafkaError, KafkaException, Producer
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        NewTopic,
        ResourcePatternType,
        ResourceType,
    )

    bootstrap, topic, group = secured.bootstrap, "done-when", "alice-group"
    admin = confluent_config(bootstrap, tls, "SCRAM-SHA-512", ADMIN, ADMIN_PASSWORD)
    alice = confluent_config(bootstrap, tls, "SCRAM-SHA-256", ALICE, ALICE_PASSWORD)

    # admin, a super user, creates the topic, produces and consumes.
    admin_client = AdminClient(admin)
    admin_client.create_topics([NewTopic(topic, 1)])[topic].result(30)
    assert confluent_produce_one(admin, topic, b"from admin") is None
    assert confluent_consume(admin, topic, "admin-group", 1) == [b"from admin"]

    # alice with a wrong password: an authentication error.
    wrong = {**alice, "sasl.password": "not-alice-secret"}
    assert KafkaError._AUTHENTICATION in confluent_connect_errors(wrong, KafkaError._AUTHENTICATION)

    # alice logs in, but holds no ACL: TOPIC_AUTHORIZATION_FAILED.
    refused = confluent_produce_one(alice, topic, b"refused")
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused

    # admin grants her WRITE, READ and DESCRIBE on the topic and READ on her group.
    def allow(kind: ResourceType, name: str, operation: AclOperation) -> AclBinding:
        return AclBinding(
            kind, name, ResourcePatternType.LITERAL, f"User:{ALICE}", "*", operation, AclPermissionType.ALLOW
        )

    grants = [
        allow(ResourceType.TOPIC, topic, op) for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)
    ]
    grants.append(allow(ResourceType.GROUP, group, AclOperation.READ))
    for future in admin_client.create_acls(grants, request_timeout=30).values():
        assert future.result() is None

    # Now alice produces and consumes.
    assert confluent_produce_one(alice, topic, b"from alice") is None
    assert confluent_consume(alice, topic, group, 2) == [b"from admin", b"from alice"]

    # PLAIN with alice's password works; a wrong one is refused.
    plain = {**alice, "sasl.mechanism": "PLAIN"}
    assert confluent_produce_one(plain, topic, b"alice over PLAIN") is None
    wrong_plain = {**plain, "sasl.password": "not-alice-secret"}
    assert KafkaError._AUTHENTICATION in confluent_connect_errors(wrong_plain, KafkaError._AUTHENTICATION)

    # A plaintext client on that listener gets nothing.
    plaintext = Producer({"bootstrap.servers": bootstrap, "security.protocol": "PLAINTEXT"})
    with pytest.raises(KafkaException):
        plaintext.list_topics(timeout=5)
    assert_no_kafka_answer_to_plaintext(bootstrap)


def assert_no_kafka_answer_to_plaintext(bootstrap: str) -> None:
    """An ApiVersions frame sent without TLS gets no Kafka frame back: at most a TLS alert, then a close."""
    host, _, port = bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as plain:
        request = API_VERSIONS.Request(client_software_name="plaintext", client_software_version="1")
        plain.sendall(wire.encode_request(API_VERSIONS, 3, 1, "plaintext", request))
        received = b""
        while chunk := plain.recv(4096):  # until the broker closes; a timeout here fails the test
            received += chunk
    assert received == b"" or received[0] == TLS_ALERT, received[:64]


def test_api_versions_before_authentication(secured: BrokerProcess, tls: TlsFiles) -> None:
    """Over TLS and before any SASL exchange, ApiVersions lists the SASL, ACL and SCRAM APIs."""
    context = ssl.create_default_context(cafile=tls.ca_pem)
    with WireClient(secured.bootstrap, ssl_context=context) as client:
        request = API_VERSIONS.Request(client_software_name="streamhouse-test", client_software_version="1.0")
        response = client.request(API_VERSIONS, 3, request)
    assert response.error_code == 0
    served = {api.api_key for api in response.api_keys}
    missing = {name: key for name, key in SECURITY_APIS.items() if key not in served}
    assert not missing, f"ApiVersions leaves out {missing}"
