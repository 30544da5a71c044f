"""The client's side of SASL over raw frames, for tests that send exact (or broken) exchanges.

A SCRAM client per RFC 5802 written apart from the broker's (broker/security/scram.py), so that a
test checks the broker against the RFC rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from streamhouse.protocol.apis.sasl_authenticate import SASL_AUTHENTICATE
from streamhouse.protocol.apis.sasl_handshake import SASL_HANDSHAKE
from tests.wireclient import WireClient

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


@dataclass
class ScramClient:
    mechanism: str
    user: str
    password: str
    nonce: str = ""

    def first(self) -> bytes:
        self.nonce = self.nonce or secrets.token_hex(12)
        self.bare = f"n={self.user},r={self.nonce}"
        return f"n,,{self.bare}".encode()

    def final(self, server_first: bytes, *, nonce: str | None = None, password: str | None = None) -> bytes:
        """client-final for server-first; `nonce` or `password` replaced to make a bad one."""
        fields = dict(part.split("=", 1) for part in server_first.decode().split(","))
        name = HASHES[self.mechanism]
        salted = hashlib.pbkdf2_hmac(
            name, (password or self.password).encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.new(salted, b"Client Key", name).digest()
        stored_key = hashlib.new(name, client_key).digest()
        without_proof = f"c=biws,r={nonce or fields['r']}"
        auth_message = f"{self.bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, name).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.server_signature = hmac.new(hmac.new(salted, b"Server Key", name).digest(), auth_message, name).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def handshake(client: WireClient, mechanism: str, version: int = 1) -> Any:
    return client.request(SASL_HANDSHAKE, version, SASL_HANDSHAKE.Request(mechanism=mechanism))


def authenticate(client: WireClient, token: bytes, version: int = 2) -> Any:
    return client.request(SASL_AUTHENTICATE, version, SASL_AUTHENTICATE.Request(auth_bytes=token))


def plain_token(user: str, password: str) -> bytes:
    return f"\x00{user}\x00{password}".encode()


def scram_login(client: WireClient, mechanism: str, user: str, password: str, version: int = 2) -> Any:
    """A whole SCRAM exchange over SaslHandshake v1 and SaslAuthenticate; the last response."""
    assert handshake(client, mechanism).error_code == 0
    scram = ScramClient(mechanism, user, password)
    first = authenticate(client, scram.first(), version)
    assert first.error_code == 0, first.error_message
    final = authenticate(client, scram.final(first.auth_bytes), version)
    if final.error_code == 0:
        assert final.auth_bytes == b"v=" + base64.b64encode(scram.server_signature)
    return final
