"""One CA's broker and client certificates in every form the clients load, for the security tests
and librdkafka's suite: PEM (the client key encrypted with a password, as librdkafka's tests expect),
DER, PKCS#12 (key, certificate and CA), and a second, unused CA to make a bundle of more than one.

Issued by tests/tlscerts.py's TestCA; this module only writes them in the other forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.tlscerts import TestCA

KEY_PASSWORD = "client-key-secret"
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
    client_cert: Path  # PEM
    client_cert_der: Path
    client_key: Path  # PEM (PKCS#8), encrypted with `password`
    client_key_der: Path  # DER (PKCS#8), not encrypted
    client_pkcs12: Path  # client key, certificate and the CA, encrypted with `password`
    password: ClassVar[str] = KEY_PASSWORD


def make_tls_files(folder: Path) -> TlsFiles:
    """A fresh CA with a broker and a client certificate, and an unused CA, as files in `folder`."""
    ca, unused_ca = TestCA(folder), TestCA(folder / "unused")
    server = ca.server()
    client = ca.client("client", common_name="client")
    certificate = x509.load_pem_x509_certificate(client.cert.read_bytes())
    ca_certificate = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(client.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # what TestCA issues
        raise TypeError(f"expected an EC client key, got {type(key).__name__}")
    encrypted = serialization.BestAvailableEncryption(KEY_PASSWORD.encode())
    pkcs8 = serialization.PrivateFormat.PKCS8
    files = TlsFiles(
        ca_pem=ca.cert,
        ca_der=folder / "ca.der",
        unused_ca_pem=unused_ca.cert,
        unused_ca_der=folder / "unused-ca.der",
        all_cas_pem=folder / "all-cas.pem",
        server_cert=server.cert,
        server_key=server.key,
        client_cert=client.cert,
        client_cert_der=folder / "client.der",
        client_key=folder / "client-key-encrypted.pem",
        client_key_der=folder / "client-key.der",
        client_pkcs12=folder / "client.p12",
    )
    files.ca_der.write_bytes(ca_certificate.public_bytes(DER))
    files.unused_ca_der.write_bytes(x509.load_pem_x509_certificate(unused_ca.cert.read_bytes()).public_bytes(DER))
    files.all_cas_pem.write_bytes(ca.cert.read_bytes() + unused_ca.cert.read_bytes())
    files.client_cert_der.write_bytes(certificate.public_bytes(DER))
    files.client_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, encrypted))
    files.client_key_der.write_bytes(key.private_bytes(DER, pkcs8, serialization.NoEncryption()))
    files.client_pkcs12.write_bytes(
        pkcs12.serialize_key_and_certificates(b"client", key, certificate, [ca_certificate], encrypted)
    )
    return files
