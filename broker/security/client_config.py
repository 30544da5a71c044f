"""The client side of a `--command-config` file: TLS and SASL for the CLI's connection to a broker.

The file is Java properties, as kafka-acls.sh's `--command-config`: `security.protocol` (PLAINTEXT,
SSL, SASL_PLAINTEXT, SASL_SSL), `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with
`sasl.username` and `sasl.password` (librdkafka's names) or Java's `sasl.jaas.config` (its
`username="..."` and `password="..."`), and the PEM files `ssl.ca.location`,
`ssl.certificate.location`, `ssl.key.location` (librdkafka's names). SASL runs SaslHandshake v1, then
SaslAuthenticate (KIP-152); SCRAM is RFC 5802's client, checking the broker's final signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from streamhouse.broker.client import BrokerConnection, ClientError
from streamhouse.protocol.apis.sasl_authenticate import SASL_AUTHENTICATE
from streamhouse.protocol.apis.sasl_handshake import SASL_HANDSHAKE
from streamhouse.protocol.errors import ErrorCode

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SCRAM_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECHANISMS = ("PLAIN", *SCRAM_HASHES)
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass(frozen=True)
class ClientSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = None
    ca_location: str | None = None
    certificate_location: str | None = None
    key_location: str | None = None


def read_client_config(path: Path | None) -> ClientSecurity:
    """The security settings of a properties file (None: PLAINTEXT); ClientError for what cannot be honoured."""
    if path is None:
        return ClientSecurity()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc}") from None
    properties = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "!")):
            key, _, value = stripped.partition("=")
            properties[key.strip()] = value.strip()
    jaas = dict(_JAAS_OPTION.findall(properties.get("sasl.jaas.config", "")))
    security = ClientSecurity(
        protocol=properties.get("security.protocol", "PLAINTEXT").upper(),
        mechanism=properties.get("sasl.mechanism", "PLAIN").upper(),
        username=properties.get("sasl.username", jaas.get("username")),
        password=properties.get("sasl.password", jaas.get("password")),
        ca_location=properties.get("ssl.ca.location"),
        certificate_location=properties.get("ssl.certificate.location"),
        key_location=properties.get("ssl.key.location"),
    )
    if security.protocol not in PROTOCOLS:
        raise ClientError(f"{path}: security.protocol {security.protocol} is not one of {', '.join(PROTOCOLS)}")
    if security.protocol.startswith("SASL_"):
        if security.mechanism not in MECHANISMS:
            raise ClientError(f"{path}: sasl.mechanism {security.mechanism} is not one of {', '.join(MECHANISMS)}")
        if security.username is None or security.password is None:
            raise ClientError(f"{path}: SASL needs sasl.username and sasl.password (or sasl.jaas.config)")
    return security


def connect(bootstrap: str, security: ClientSecurity) -> BrokerConnection:
    """A connection to the broker, over TLS and authenticated as the settings say."""
    connection = BrokerConnection(bootstrap)
    try:
        if security.protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=security.ca_location)
            if security.certificate_location is not None:
                context.load_cert_chain(security.certificate_location, security.key_location)
            host = bootstrap.rpartition(":")[0]
            connection.sock = context.wrap_socket(connection.sock, server_hostname=host)
        if security.protocol.startswith("SASL_"):
            _authenticate(connection, security)
    except (OSError, ssl.SSLError) as exc:
        connection.close()
        raise ClientError(f"{bootstrap}: {exc}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _authenticate(connection: BrokerConnection, security: ClientSecurity) -> None:
    assert security.username is not None and security.password is not None  # read_client_config checked
    handshake = connection.request(SASL_HANDSHAKE, 1, SASL_HANDSHAKE.Request(mechanism=security.mechanism))
    if handshake.error_code:
        offered = ", ".join(handshake.mechanisms) or "none"
        raise ClientError(f"SaslHandshake: {ErrorCode(handshake.error_code).name} (the broker offers {offered})")
    version = connection.version_for(SASL_AUTHENTICATE)

    def exchange(message: bytes) -> bytes:
        answer = connection.request(SASL_AUTHENTICATE, version, SASL_AUTHENTICATE.Request(auth_bytes=message))
        if answer.error_code:
            raise ClientError(f"SaslAuthenticate: {ErrorCode(answer.error_code).name}: {answer.error_message}")
        return bytes(answer.auth_bytes)

    if security.mechanism == "PLAIN":
        exchange(f"\0{security.username}\0{security.password}".encode())
        return
    scram = ScramClient(security.mechanism, security.username, security.password)
    scram.check_final(exchange(scram.final(exchange(scram.first()))))


class ScramClient:
    """RFC 5802's client messages; `nonce` is random unless given (tests give RFC 7677's)."""

    def __init__(self, mechanism: str, username: str, password: str, nonce: str | None = None) -> None:
        self.hash = SCRAM_HASHES[mechanism]
        self.password = password
        self.nonce = nonce or secrets.token_urlsafe(24)
        name = username.replace("=", "=3D").replace(",", "=2C")
        self.first_bare = f"n={name},r={self.nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self.first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        if not fields.get("r", "").startswith(self.nonce) or "s" not in fields or "i" not in fields:
            raise ClientError(f"SCRAM: unexpected server-first message {text!r}")
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", self.hash)
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{self.first_bare},{text},{without_proof}".encode()
        signature = hmac.digest(hashlib.new(self.hash, client_key).digest(), auth_message, self.hash)
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
        server_key = hmac.digest(salted, b"Server Key", self.hash)
        self.server_signature = base64.b64encode(hmac.digest(server_key, auth_message, self.hash))
        return f"{without_proof},p={proof}".encode()

    def check_final(self, server_final: bytes) -> None:
        """ClientError unless the broker proved it knows the password's keys (v=), or said why not (e=)."""
        fields = dict(part.split("=", 1) for part in server_final.decode().split(",") if "=" in part)
        if "e" in fields:
            raise ClientError(f"SCRAM: the broker refused: {fields['e']}")
        if not hmac.compare_digest(fields.get("v", "").encode(), self.server_signature):
            raise ClientError("SCRAM: the broker's signature does not match: it does not know this password")
