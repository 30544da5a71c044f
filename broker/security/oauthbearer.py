"""OAUTHBEARER (RFC 7628) tokens: Kafka's unsecured JWTs for local development, or signed JWTs
checked against a JWKS (a file or a URL) with their issuer, audience and expiry.

The client's message is `n,[a=authzid],` then `\x01auth=Bearer <token>\x01` and more key=value
pairs, closed by `\x01\x01`. The token's `sub` claim names the principal; its `exp` bounds the session.
Signed tokens use PyJWT (with `cryptography` for RSA and EC keys): signature checks are easy to get
subtly wrong, and PyJWT is the maintained implementation.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TokenError(Exception):
    """The token was refused; the message says why."""


@dataclass(frozen=True)
class ValidToken:
    principal: str
    expires_ms: int  # the token's exp, in milliseconds since the epoch


def bearer_token(message: bytes) -> str:
    """The token of an OAUTHBEARER client message."""
    try:
        text = message.decode()
    except UnicodeDecodeError:
        raise TokenError("OAUTHBEARER message is not UTF-8") from None
    header, separator, rest = text.partition("\x01")
    if not separator or not header.startswith(("n,", "y,")) or not rest.endswith("\x01\x01"):
        raise TokenError("malformed OAUTHBEARER message")
    pairs = dict(pair.partition("=")[::2] for pair in rest[:-2].split("\x01"))
    scheme, _, token = pairs.get("auth", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise TokenError("OAUTHBEARER message carries no bearer token")
    return token


def _segment(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise TokenError("token segment is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenError("token segment is not a JSON object")
    return value


def _valid(claims: dict[str, Any], now_ms: int) -> ValidToken:
    subject, expires = claims.get("sub"), claims.get("exp")
    if not isinstance(subject, str) or not subject:
        raise TokenError("token has no sub claim")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise TokenError("token has no exp claim")
    expires_ms = int(expires * 1000)
    if expires_ms <= now_ms:
        raise TokenError("token expired")
    return ValidToken(subject, expires_ms)


def validate_unsecured(token: str, now_ms: int | None = None) -> ValidToken:
    """Kafka's unsecured validation: `alg` none, no signature, a `sub` and an unexpired `exp`."""
    parts = token.split(".")
    if len(parts) != 3 or parts[2]:
        raise TokenError("unsecured token must be header.payload. with no signature")
    if _segment(parts[0]).get("alg") != "none":
        raise TokenError('unsecured token must have alg "none"')
    return _valid(_segment(parts[1]), int(time.time() * 1000) if now_ms is None else now_ms)


class SignedTokenValidator:
    """Signed JWTs against the keys of a JWKS file or URL, with issuer and audience when configured.

    `validate` may fetch the JWKS URL (cached by PyJWT): call it off the event loop.
    """

    ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")

    def __init__(self, jwks: str, issuer: str | None, audience: str | None) -> None:
        # PyJWT (and the cryptography it loads) is imported here, by the brokers that check signed
        # tokens: imported with the module, it was a sixth of every broker's start-up imports.
        import jwt

        self.issuer = issuer
        self.audience = audience
        self._client = jwt.PyJWKClient(jwks) if jwks.startswith(("http://", "https://")) else None
        self._keys = None if self._client else jwt.PyJWKSet.from_json(Path(jwks).read_text())

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        import jwt

        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise TokenError(f"no key {kid!r} in the JWKS")

    def validate(self, token: str) -> ValidToken:
        import jwt

        required = ["exp", "sub"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=list(self.ALGORITHMS),
                issuer=self.issuer,
                audience=self.audience,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"token refused: {exc}") from None
        return _valid(claims, int(time.time() * 1000))
