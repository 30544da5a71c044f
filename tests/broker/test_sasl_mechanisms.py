"""The SASL mechanisms' server sides on their own: SCRAM against RFC 7677's example, PLAIN's check
against a stored SCRAM credential, OAUTHBEARER messages and unsecured tokens."""

from __future__ import annotations

import base64
import json

import pytest

from streamhouse.broker.security.oauthbearer import TokenError, bearer_token, validate_unsecured
from streamhouse.broker.security.scram import (
    SCRAM_SHA_256,
    ScramError,
    ScramExchange,
    check_iterations,
    credential_from_salted,
    new_credential,
    parse_client_first,
    password_matches,
    salted_password,
)

# RFC 7677, section 3: user "user", password "pencil".
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_exchange() -> ScramExchange:
    salted = salted_password(SCRAM_SHA_256, b"pencil", RFC_SALT, 4096)
    credential = credential_from_salted("user", SCRAM_SHA_256, RFC_SALT, 4096, salted)
    return ScramExchange(SCRAM_SHA_256, parse_client_first(RFC_CLIENT_FIRST), credential, RFC_SERVER_NONCE)


def test_scram_sha_256_follows_rfc_7677s_example() -> None:
    exchange = rfc_exchange()
    assert exchange.server_first == RFC_SERVER_FIRST
    assert exchange.final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL


@pytest.mark.parametrize(
    ("client_final", "reason"),
    [
        (RFC_CLIENT_FINAL.replace(b"r=rOpr", b"r=xOpr"), "wrong nonce"),
        (RFC_CLIENT_FINAL.replace(b"p=dHzb", b"p=eHzb"), "invalid credentials"),
        (RFC_CLIENT_FINAL.replace(b"c=biws", b"c=eSws"), "channel binding"),
        (b"c=biws,p=xyz", "malformed"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_scram_refuses_a_bad_client_final(client_final: bytes, reason: str) -> None:
    with pytest.raises(ScramError, match=reason):
        rfc_exchange().final(client_final)


@pytest.mark.parametrize(
    "client_first",
    [
        b"p=tls-unique,,n=user,r=abc",
        b"n,,r=abc,n=user",
        b"n,,n=user",
        b"n,,n=us=er,r=abc",
        b"n,,n=user,r=abc,tokenauth=true",
    ],
)
def test_scram_refuses_a_bad_client_first(client_first: bytes) -> None:
    with pytest.raises(ScramError):
        parse_client_first(client_first)


def test_scram_user_names_are_unescaped() -> None:
    assert parse_client_first(b"n,,n=a=2Cb=3Dc,r=abc").user == "a,b=c"


def test_plain_passwords_are_checked_against_the_stored_credential() -> None:
    credential = new_credential("alice", SCRAM_SHA_256, "secret", 4096)
    assert password_matches(credential, b"secret")
    assert not password_matches(credential, b"Secret")


@pytest.mark.parametrize("iterations", [4095, 16385, 0, -1])
def test_iteration_counts_out_of_bounds_are_refused(iterations: int) -> None:
    with pytest.raises(ScramError, match="iterations must be between 4096 and 16384"):
        check_iterations(iterations)


def unsecured(claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment(header or {'alg': 'none'})}.{segment(claims)}."


def test_an_unsecured_token_names_its_subject_and_expiry() -> None:
    token = unsecured({"sub": "bob", "exp": 2_000, "iat": 1_000})
    valid = validate_unsecured(bearer_token(f"n,,\x01auth=Bearer {token}\x01\x01".encode()), now_ms=1_500_000)
    assert (valid.principal, valid.expires_ms) == ("bob", 2_000_000)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (unsecured({"sub": "bob", "exp": 1_000}), "expired"),
        (unsecured({"exp": 2_000}), "no sub"),
        (unsecured({"sub": "bob"}), "no exp"),
        (unsecured({"sub": "bob", "exp": 2_000}, {"alg": "RS256"}), 'alg "none"'),
        (unsecured({"sub": "bob", "exp": 2_000}) + "signature", "no signature"),
        ("not-a-jwt", "header.payload."),
        (unsecured({}).split(".")[0] + ".!!!.", "base64url JSON"),
    ],
)
def test_bad_unsecured_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        validate_unsecured(token, now_ms=1_500_000)


@pytest.mark.parametrize(
    "message", [b"n,,auth=Bearer x\x01\x01", b"n,,\x01auth=Basic x\x01\x01", b"n,,\x01auth=Bearer x\x01", b"\xff"]
)
def test_malformed_oauthbearer_messages_are_refused(message: bytes) -> None:
    with pytest.raises(TokenError):
        bearer_token(message)
