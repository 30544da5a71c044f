"""The CLI's `--command-config`: properties read as kafka-acls.sh's, and the SCRAM client against RFC 7677."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamhouse.broker.client import ClientError
from streamhouse.broker.security.client_config import ClientSecurity, ScramClient, read_client_config

# RFC 7677, section 3: SCRAM-SHA-256 for user "user", password "pencil".
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_the_scram_client_sends_rfc_7677s_messages_and_checks_the_server() -> None:
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=RFC_CLIENT_NONCE)
    assert client.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    client.check_final(RFC_SERVER_FINAL)
    with pytest.raises(ClientError, match="signature does not match"):
        client.check_final(b"v=" + b"A" * 44)
    with pytest.raises(ClientError, match="refused: invalid-proof"):
        client.check_final(b"e=invalid-proof")


def test_the_scram_client_refuses_a_server_nonce_not_extending_its_own() -> None:
    client = ScramClient("SCRAM-SHA-512", "a,b=c", "secret", nonce="abc")
    assert client.first() == b"n,,n=a=2Cb=3Dc,r=abc"
    with pytest.raises(ClientError, match="unexpected server-first"):
        client.final(b"r=xyz,s=c2FsdA==,i=4096")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "client.properties"
    path.write_text(text)
    return path


def test_properties_take_librdkafkas_and_javas_names(tmp_path: Path) -> None:
    assert read_client_config(None) == ClientSecurity()
    librdkafka = write(
        tmp_path,
        "# admin\nsecurity.protocol=sasl_ssl\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=admin\n"
        "sasl.password=a=b\nssl.ca.location=/etc/ca.pem\n",
    )
    assert read_client_config(librdkafka) == ClientSecurity(
        "SASL_SSL", "SCRAM-SHA-512", "admin", "a=b", ca_location="/etc/ca.pem"
    )
    java = write(
        tmp_path,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security"
        '.plain.PlainLoginModule required username="alice" password="s3cret";\n',
    )
    assert read_client_config(java) == ClientSecurity("SASL_PLAINTEXT", "PLAIN", "alice", "s3cret")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("security.protocol=KERBEROS\n", "not one of PLAINTEXT"),
        ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.username=a\nsasl.password=b\n", "GSSAPI"),
        ("security.protocol=SASL_PLAINTEXT\nsasl.username=a\n", "needs sasl.username and sasl.password"),
    ],
)
def test_settings_that_cannot_be_honoured_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ClientError, match=reason):
        read_client_config(write(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="cannot read"):
        read_client_config(tmp_path / "absent.properties")
