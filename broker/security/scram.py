"""SCRAM (RFC 5802, RFC 7677) in Kafka's stored form: salt, iterations, stored key, server key.

The server never holds a password: it checks a client's proof against the stored key, and proves
itself with the server key. Deriving a credential from a password (PBKDF2) is the costly part and
happens only when a user is added or a PLAIN password is checked: callers run it off the event loop.
Kafka numbers the mechanisms on the wire (DescribeUserScramCredentials, AlterUserScramCredentials):
1 is SCRAM-SHA-256, 2 is SCRAM-SHA-512.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
from dataclasses import dataclass

from streamhouse.metadata.base import ScramCredential

SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_512 = "SCRAM-SHA-512"
HASHES = {SCRAM_SHA_256: "sha256", SCRAM_SHA_512: "sha512"}
MECHANISM_TYPES = {SCRAM_SHA_256: 1, SCRAM_SHA_512: 2}  # Kafka's ScramMechanism type ids
MECHANISMS_BY_TYPE = {number: name for name, number in MECHANISM_TYPES.items()}
# Kafka's bounds for a credential's iteration count.
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
DEFAULT_ITERATIONS = 4096
SALT_BYTES = 32
NONCE_ALPHABET = string.ascii_letters + string.digits


class ScramError(Exception):
    """The exchange failed; the message says why without naming a secret."""


def salted_password(mechanism: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """Hi(password, salt, i): PBKDF2 with HMAC of the mechanism's hash. Costly: call off the event loop."""
    return hashlib.pbkdf2_hmac(HASHES[mechanism], password, salt, iterations)


def _hmac(mechanism: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, HASHES[mechanism]).digest()


def _hash(mechanism: str, data: bytes) -> bytes:
    return hashlib.new(HASHES[mechanism], data).digest()


def check_iterations(iterations: int) -> None:
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ScramError(f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, not {iterations}")


def check_credential(iterations: int, salt: bytes, salted: bytes) -> None:
    """ScramError unless a salted password can be stored: iterations in bounds, salt and password not empty."""
    check_iterations(iterations)
    if not salt or not salted:
        raise ScramError("salt and salted password must not be empty")


def credential_from_salted(user: str, mechanism: str, salt: bytes, iterations: int, salted: bytes) -> ScramCredential:
    """The stored form of a salted password (what AlterUserScramCredentials carries)."""
    client_key = _hmac(mechanism, salted, b"Client Key")
    server_key = _hmac(mechanism, salted, b"Server Key")
    return ScramCredential(user, mechanism, salt, iterations, _hash(mechanism, client_key), server_key)


def new_credential(user: str, mechanism: str, password: str, iterations: int = DEFAULT_ITERATIONS) -> ScramCredential:
    """A credential for a password with a fresh random salt. Costly: call off the event loop."""
    check_iterations(iterations)
    salt = os.urandom(SALT_BYTES)
    return credential_from_salted(
        user, mechanism, salt, iterations, salted_password(mechanism, password.encode(), salt, iterations)
    )


def password_matches(credential: ScramCredential, password: bytes) -> bool:
    """Whether a password derives the credential's stored key (in constant time). Costly: off the event loop."""
    mechanism = credential.mechanism
    salted = salted_password(mechanism, password, credential.salt, credential.iterations)
    stored_key = _hash(mechanism, _hmac(mechanism, salted, b"Client Key"))
    return hmac.compare_digest(stored_key, credential.stored_key)


def _attributes(message: str) -> list[tuple[str, str]]:
    """A SCRAM message's `x=value` attributes, in order."""
    pairs = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed SCRAM attribute {part[:20]!r}")
        pairs.append((part[0], part[2:]))
    return pairs


def _saslname(name: str) -> str:
    """RFC 5802's escaping of "," and "=" in a user name undone; any other "=" is malformed."""
    unescaped = name.replace("=2C", ",").replace("=3D", "=")
    if "=" in name.replace("=2C", "").replace("=3D", ""):
        raise ScramError("malformed user name")
    return unescaped


@dataclass
class ClientFirst:
    gs2_header: str  # "n,," or "n,a=<authzid>,"
    user: str
    nonce: str
    bare: str  # client-first-message-bare, part of the AuthMessage


def parse_client_first(token: bytes) -> ClientFirst:
    try:
        message = token.decode()
    except UnicodeDecodeError:
        raise ScramError("client-first-message is not UTF-8") from None
    parts = message.split(",", 2)
    if len(parts) != 3 or parts[0] not in ("n", "y") or (parts[1] and not parts[1].startswith("a=")):
        raise ScramError("malformed client-first-message (channel binding is not supported)")
    bare = parts[2]
    attributes = _attributes(bare)
    if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r" or not attributes[1][1]:
        raise ScramError("malformed client-first-message")
    if len(attributes) > 2:  # extensions: Kafka's only one is tokenauth, for delegation tokens
        raise ScramError("SCRAM extensions (delegation tokens) are not supported")
    user = _saslname(attributes[0][1])
    authzid = parts[1][2:]
    if authzid and _saslname(authzid) != user:
        raise ScramError("authorization id differs from the user name")
    return ClientFirst(f"{parts[0]},{parts[1]},", user, attributes[1][1], bare)


class ScramExchange:
    """The server's side of one SCRAM exchange: client-first in, server-first out; client-final in,
    server-final out (or ScramError)."""

    def __init__(
        self, mechanism: str, first: ClientFirst, credential: ScramCredential, server_nonce: str | None = None
    ) -> None:
        """`server_nonce`: our part of the nonce; random (letters and digits, like Kafka's) unless given."""
        self.mechanism = mechanism
        self.first = first
        self.credential = credential
        self.nonce = first.nonce + (server_nonce or "".join(secrets.choice(NONCE_ALPHABET) for _ in range(32)))
        salt = base64.b64encode(credential.salt).decode()
        self.server_first = f"r={self.nonce},s={salt},i={credential.iterations}"

    def final(self, token: bytes) -> bytes:
        """Check the client's proof; the server-final-message that proves the server."""
        try:
            message = token.decode()
        except UnicodeDecodeError:
            raise ScramError("client-final-message is not UTF-8") from None
        attributes = _attributes(message)
        if len(attributes) < 3 or attributes[0][0] != "c" or attributes[1][0] != "r" or attributes[-1][0] != "p":
            raise ScramError("malformed client-final-message")
        if attributes[0][1] != base64.b64encode(self.first.gs2_header.encode()).decode():
            raise ScramError("channel binding differs from the client-first-message's")
        # Kafka accepts a nonce that ends with the server's (librdkafka 2.0 repeats its own part in front);
        # the server's fresh part is what makes the exchange unique, and it is checked whole.
        nonce = attributes[1][1].encode()
        if not hmac.compare_digest(nonce[-len(self.nonce) :], self.nonce.encode()):
            raise ScramError("wrong nonce")
        try:
            proof = base64.b64decode(attributes[-1][1], validate=True)
        except ValueError:
            raise ScramError("malformed proof") from None
        without_proof = message[: message.rindex(",p=")]
        auth_message = f"{self.first.bare},{self.server_first},{without_proof}".encode()
        mechanism, credential = self.mechanism, self.credential
        signature = _hmac(mechanism, credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("invalid credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(_hash(mechanism, client_key), credential.stored_key):
            raise ScramError("invalid credentials")
        server_signature = _hmac(mechanism, credential.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)


def decoy_credential(user: str, mechanism: str, secret: bytes) -> ScramCredential:
    """A credential for an unknown user, stable per user, that no proof matches: the exchange runs on
    to the proof and fails there like a wrong password, so it does not tell which users exist."""
    salt = _hmac(mechanism, secret, user.encode())[:SALT_BYTES]
    return ScramCredential(user, mechanism, salt, DEFAULT_ITERATIONS, os.urandom(len(salt)), os.urandom(len(salt)))
