"""Certificates for TLS tests: a CA, a broker certificate it signs, a client certificate it signs.

Written as files in the formats the clients load: PEM (the client key encrypted with a password, as
librdkafka's test suite expects), DER, and PKCS#12 (key, certificate and CA). A second CA that signs
nothing ("unused") lets tests hand a client a CA bundle holding more than the one that matters.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_PASSWORD = "client-key-secret"
VALID_DAYS = 30
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: Path
    ca_der: Path
    unused_ca_pem: Path
    unused_ca_der: Path
    all_cas_pem: Path  # both CAs, the one that signed the certificates first
    server_cert: Path  # PEM, the broker's certificate for 127.0.0.1 and localhost
    server_key: Path  # PEM, not encrypted
    client_cert: Path  # PEM: the client certificate, then the CA's
    client_cert_der: Path
    client_key: Path  # PEM (PKCS#8), encrypted with `password`
    client_key_der: Path  # DER (PKCS#8), not encrypted
    client_pkcs12: Path  # client key, certificate and the CA, encrypted with `password`
    password: ClassVar[str] = KEY_PASSWORD


FILE_NAMES = {
    "ca_pem": "ca.pem",
    "ca_der": "ca.der",
    "unused_ca_pem": "unused-ca.pem",
    "unused_ca_der": "unused-ca.der",
    "all_cas_pem": "all-cas.pem",
    "server_cert": "server.pem",
    "server_key": "server-key.pem",
    "client_cert": "client.pem",
    "client_cert_der": "client.der",
    "client_key": "client-key.pem",
    "client_key_der": "client-key.der",
    "client_pkcs12": "client.p12",
}


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "StreamHouse tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name | None,
    issuer_key: rsa.RSAPrivateKey | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """A certificate for `key`, signed by `issuer_key` (itself when None: a self-signed CA)."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _ca(common_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # certificate and CRL signing
    extensions = [(x509.BasicConstraints(ca=True, path_length=None), True), (usage, True)]
    return _certificate(common_name, key, None, None, extensions), key


def make_tls_files(folder: Path) -> TlsFiles:
    """A fresh CA with a broker and a client certificate, and an unused CA, as files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("StreamHouse test CA")
    unused_ca, _ = _ca("StreamHouse unused CA")
    server_key, client_key = _new_key(), _new_key()
    not_ca = (x509.BasicConstraints(ca=False, path_length=None), True)
    names = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    server = _certificate(
        "localhost",
        server_key,
        ca.subject,
        ca_key,
        [not_ca, (names, False), (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)],
    )
    client = _certificate(
        "client",
        client_key,
        ca.subject,
        ca_key,
        [not_ca, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)],
    )
    password = KEY_PASSWORD.encode()
    pkcs8 = serialization.PrivateFormat.PKCS8
    files = TlsFiles(**{field: folder / name for field, name in FILE_NAMES.items()})
    files.ca_pem.write_bytes(ca.public_bytes(PEM))
    files.ca_der.write_bytes(ca.public_bytes(DER))
    files.unused_ca_pem.write_bytes(unused_ca.public_bytes(PEM))
    files.unused_ca_der.write_bytes(unused_ca.public_bytes(DER))
    files.all_cas_pem.write_bytes(ca.public_bytes(PEM) + unused_ca.public_bytes(PEM))
    files.server_cert.write_bytes(server.public_bytes(PEM))
    files.server_key.write_bytes(server_key.private_bytes(PEM, pkcs8, serialization.NoEncryption()))
    files.client_cert.write_bytes(client.public_bytes(PEM) + ca.public_bytes(PEM))
    files.client_cert_der.write_bytes(client.public_bytes(DER))
    files.client_key.write_bytes(client_key.private_bytes(PEM, pkcs8, serialization.BestAvailableEncryption(password)))
    files.client_key_der.write_bytes(client_key.private_bytes(DER, pkcs8, serialization.NoEncryption()))
    files.client_pkcs12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client", client_key, client, [ca], serialization.BestAvailableEncryption(password)
        )
    )
    return files
