"""SASL authentication: the enabled mechanisms, one authenticator per exchange, sessions and their expiry.

Mechanisms: PLAIN (checked against the stored SCRAM credentials), SCRAM-SHA-256 and SCRAM-SHA-512
(broker.security.scram), OAUTHBEARER (broker.security.oauthbearer: unsecured tokens, or signed ones
when a JWKS is configured). A connection that must authenticate may send only ApiVersions,
SaslHandshake and SaslAuthenticate until it has; a failed exchange is answered after
`--connection-failed-authentication-delay-ms` and closes the connection. With
`--connections-max-reauth-ms`, a session lasts that long (or until its token expires, if sooner):
clients re-authenticate on the same connection (KIP-368), and a request on an expired session
closes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Protocol

from streamhouse.broker.security.oauthbearer import (
    SignedTokenValidator,
    TokenError,
    ValidToken,
    bearer_token,
    validate_unsecured,
)
from streamhouse.broker.security.scram import (
    HASHES,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramError,
    ScramExchange,
    decoy_credential,
    parse_client_first,
    password_matches,
)
from streamhouse.broker.security.users import UserCredentials

log = logging.getLogger(__name__)

PLAIN = "PLAIN"
OAUTHBEARER = "OAUTHBEARER"
MECHANISMS = (PLAIN, SCRAM_SHA_256, SCRAM_SHA_512, OAUTHBEARER)
UNKNOWN_MECHANISM = "unknown"  # the metrics' label for a mechanism asked for but not served
# Kafka's sasl.server.max.receive.size: the largest frame before a connection has authenticated.
SASL_MAX_RECEIVE_BYTES = 512 * 1024
SASL_API_KEYS = frozenset((17, 36))  # SaslHandshake, SaslAuthenticate
PRE_AUTHENTICATION_API_KEYS = SASL_API_KEYS | {18}  # and ApiVersions


class AuthenticationFailedError(Exception):
    """The exchange failed; the message is for the client and the log, never a secret."""


class Authenticator(Protocol):
    """One mechanism's exchange on one connection."""

    mechanism: str
    claimed: str | None  # the user name the client gave, for the log
    user: str | None  # set once the exchange succeeded
    expires_ms: int | None  # when the credential itself stops being valid (a token's exp)

    async def step(self, token: bytes) -> bytes:
        """The client's next token in, the server's answer out; AuthenticationFailedError if refused."""
        ...


def invalid_credentials(mechanism: str) -> AuthenticationFailedError:
    return AuthenticationFailedError(f"Authentication failed: invalid credentials with SASL mechanism {mechanism}")


class PlainAuthenticator:
    """PLAIN: `authzid NUL user NUL password`, checked against the user's stored SCRAM credential."""

    mechanism = PLAIN

    def __init__(self, users: UserCredentials, decoy_secret: bytes) -> None:
        self.users = users
        self.decoy_secret = decoy_secret
        self.claimed: str | None = None
        self.user: str | None = None
        self.expires_ms: int | None = None

    async def step(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3 or not parts[1]:
            raise AuthenticationFailedError("Authentication failed: malformed PLAIN message")
        authzid, user_bytes, password = parts
        try:
            user = user_bytes.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailedError("Authentication failed: user name is not UTF-8") from None
        self.claimed = user
        if authzid and authzid != user_bytes:
            raise AuthenticationFailedError("Authentication failed: authorization id differs from the user name")
        credential = self.users.get(user, SCRAM_SHA_256) or self.users.get(user, SCRAM_SHA_512)
        # An unknown user costs the same PBKDF2 as a known one: the time taken does not tell.
        checked = credential or decoy_credential(user, SCRAM_SHA_256, self.decoy_secret)
        if not await asyncio.to_thread(password_matches, checked, password) or credential is None:
            raise invalid_credentials(PLAIN)
        self.user = user
        return b""


class ScramAuthenticator:
    """SCRAM-SHA-256/512: client-first, server-first, client-final, server-final."""

    def __init__(self, mechanism: str, users: UserCredentials, decoy_secret: bytes) -> None:
        self.mechanism = mechanism
        self.users = users
        self.decoy_secret = decoy_secret
        self.exchange: ScramExchange | None = None
        self.claimed: str | None = None
        self.user: str | None = None
        self.expires_ms: int | None = None

    async def step(self, token: bytes) -> bytes:
        try:
            if self.exchange is None:
                first = parse_client_first(token)
                self.claimed = first.user
                # An unknown user gets a decoy credential: the exchange fails at the proof, as a wrong password does.
                credential = self.users.get(first.user, self.mechanism) or decoy_credential(
                    first.user, self.mechanism, self.decoy_secret
                )
                self.exchange = ScramExchange(self.mechanism, first, credential)
                return self.exchange.server_first.encode()
            if self.user is not None:
                raise ScramError("the exchange is already complete")
            server_final = self.exchange.final(token)
        except ScramError as exc:
            if str(exc) == "invalid credentials":
                raise invalid_credentials(self.mechanism) from None
            raise AuthenticationFailedError(f"Authentication failed: {exc}") from None
        self.user = self.exchange.first.user
        return server_final


class OAuthBearerAuthenticator:
    """OAUTHBEARER: one client message with the token; the answer is empty."""

    mechanism = OAUTHBEARER

    def __init__(self, signed: SignedTokenValidator | None) -> None:
        self.signed = signed
        self.claimed: str | None = None
        self.user: str | None = None
        self.expires_ms: int | None = None

    async def step(self, token: bytes) -> bytes:
        try:
            bearer = bearer_token(token)
            valid: ValidToken = (
                validate_unsecured(bearer)
                if self.signed is None
                else await asyncio.to_thread(self.signed.validate, bearer)
            )
        except TokenError as exc:
            raise AuthenticationFailedError(f"Authentication failed: {exc}") from None
        self.claimed = self.user = valid.principal
        self.expires_ms = valid.expires_ms
        return b""


@dataclass
class SaslSession:
    """A connection's SASL state."""

    required: bool  # this connection's listener is SASL_*: nothing but the SASL requests until authenticated
    authenticator: Authenticator | None = None  # the exchange under way, after a handshake
    raw_tokens: bool = False  # after a SaslHandshake v0: the next frames are bare SASL tokens
    user: str | None = None  # once authenticated
    mechanism: str | None = None  # the mechanism that authenticated the session
    expires_at: float | None = None  # time.monotonic() when the session ends (re-authentication)

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at


class SaslService:
    """The broker's SASL configuration, its authenticators and its counts."""

    def __init__(
        self,
        mechanisms: str,
        users: UserCredentials,
        *,
        max_reauth_ms: int,
        failed_delay_ms: int,
        oauthbearer_jwks: str | None,
        oauthbearer_issuer: str | None,
        oauthbearer_audience: str | None,
    ) -> None:
        self.mechanisms = [name.strip().upper() for name in mechanisms.split(",") if name.strip()]
        unknown = [name for name in self.mechanisms if name not in MECHANISMS]
        if unknown:
            raise ValueError(f"unknown SASL mechanisms {', '.join(unknown)}: choose from {', '.join(MECHANISMS)}")
        self.users = users
        self.max_reauth_ms = max_reauth_ms
        self.failed_delay_ms = failed_delay_ms
        self.signed_tokens = (
            SignedTokenValidator(oauthbearer_jwks, oauthbearer_issuer, oauthbearer_audience)
            if oauthbearer_jwks
            else None
        )
        self._decoy_secret = os.urandom(32)
        # Authentications by (mechanism or UNKNOWN_MECHANISM, "success" or "failure").
        self.counts: dict[tuple[str, str], int] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.mechanisms)

    def authenticator(self, mechanism: str) -> Authenticator | None:
        """A new exchange for an enabled mechanism; None for one not enabled."""
        if mechanism not in self.mechanisms:
            return None
        if mechanism == PLAIN:
            return PlainAuthenticator(self.users, self._decoy_secret)
        if mechanism in HASHES:
            return ScramAuthenticator(mechanism, self.users, self._decoy_secret)
        return OAuthBearerAuthenticator(self.signed_tokens)

    def password_checker(self) -> PlainAuthenticator:
        """A PLAIN exchange whichever mechanisms are enabled: the console checks a user's password with it."""
        return PlainAuthenticator(self.users, self._decoy_secret)

    def counted(self, mechanism: str | None, success: bool) -> None:
        label = mechanism if mechanism in MECHANISMS else UNKNOWN_MECHANISM
        key = (label, "success" if success else "failure")
        self.counts[key] = self.counts.get(key, 0) + 1

    def session_lifetime_ms(self, authenticator: Authenticator) -> int:
        """How long the session may last (0: for ever): --connections-max-reauth-ms, or less if its token expires."""
        limits = [self.max_reauth_ms] if self.max_reauth_ms > 0 else []
        if authenticator.expires_ms is not None:
            limits.append(max(authenticator.expires_ms - int(time.time() * 1000), 1))
        return min(limits) if limits else 0

    async def failed(self, session: SaslSession, mechanism: str | None, peer: str, reason: str) -> None:
        """Count and log a failed attempt (principal and peer, never a secret), then wait the failure delay."""
        self.counted(mechanism, success=False)
        user = session.authenticator.claimed if session.authenticator is not None else None
        log.warning(
            "authentication failed from %s (mechanism %s, principal %s): %s",
            peer,
            mechanism or "none",
            f"User:{user}" if user else "unknown",
            reason,
        )
        await asyncio.sleep(self.failed_delay_ms / 1000)

    def succeeded(self, session: SaslSession, authenticator: Authenticator, peer: str) -> int:
        """Start (or renew) the session; its lifetime in ms (0: unbounded).

        AuthenticationFailedError when a re-authentication names another user than the session's (KIP-368).
        """
        if session.user is not None and authenticator.user != session.user:
            raise AuthenticationFailedError(
                f"Authentication failed: re-authentication as User:{authenticator.user}"
                f" on a session of User:{session.user}"
            )
        self.counted(authenticator.mechanism, success=True)
        lifetime = self.session_lifetime_ms(authenticator)
        session.user, session.mechanism = authenticator.user, authenticator.mechanism
        session.authenticator = None
        session.expires_at = time.monotonic() + lifetime / 1000 if lifetime else None
        log.info("authenticated User:%s from %s with %s", authenticator.user, peer, authenticator.mechanism)
        return lifetime
