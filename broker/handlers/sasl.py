"""SaslHandshake v0-1 and SaslAuthenticate v0-2: SASL authentication of a connection (broker.security.sasl).

SaslHandshake names the mechanism and gets the enabled list. After v1 the exchange's tokens come
in SaslAuthenticate requests; after v0 they come as bare size-prefixed frames with no request
header (old clients), answered likewise, and a failure there closes the connection without an
answer. SaslAuthenticate v1+ answers the session's lifetime (KIP-368, `--connections-max-reauth-ms`,
0 when unbounded). A second handshake on an authenticated connection starts a re-authentication,
with the same mechanism and for the same user.

Errors: UNSUPPORTED_SASL_MECHANISM (33) with the enabled mechanisms, then the connection closes;
ILLEGAL_SASL_STATE (34) for SASL on a connection that does not use it, an exchange without a
handshake or a handshake during one (the connection closes but where SASL is not in use);
SASL_AUTHENTICATION_FAILED (58) with a message for a refused exchange (wrong password, unknown
user, wrong nonce or proof, invalid token), answered after the failure delay, then the
connection closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.sasl import AuthenticationFailedError
from streamhouse.protocol.apis.sasl_authenticate import SASL_AUTHENTICATE
from streamhouse.protocol.apis.sasl_handshake import SASL_HANDSHAKE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse
from streamhouse.protocol.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_sasl_handshake(
    broker: Broker, request: Request[SaslHandshakeRequest], connection: Connection
) -> SaslHandshakeResponse:
    service, session = broker.sasl, connection.sasl
    enabled = service.mechanisms
    if not session.required:
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=enabled)
    mechanism = request.body.mechanism
    if session.authenticator is not None or (session.authenticated and mechanism != session.mechanism):
        connection.close_after_answer("SaslHandshake during an exchange, or re-authentication with another mechanism")
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=enabled)
    authenticator = service.authenticator(mechanism)
    if authenticator is None:
        connection.close_after_answer(f"unsupported SASL mechanism {mechanism[:64]!r}")
        await service.failed(session, None, connection.peer, f"unsupported mechanism {mechanism[:64]!r}")
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=enabled)
    session.authenticator = authenticator
    return SaslHandshakeResponse(error_code=ErrorCode.NONE, mechanisms=enabled)


async def handle_sasl_authenticate(
    broker: Broker, request: Request[SaslAuthenticateRequest], connection: Connection
) -> SaslAuthenticateResponse:
    session = connection.sasl
    if not session.required or session.authenticator is None:
        if session.required:
            connection.close_after_answer("SaslAuthenticate without a SaslHandshake v1")
        return SaslAuthenticateResponse(
            error_code=ErrorCode.ILLEGAL_SASL_STATE,
            error_message="SaslAuthenticate needs a SaslHandshake v1 first on a SASL listener",
            auth_bytes=b"",
        )
    answer = await authenticate(broker, connection, request.body.auth_bytes)
    if isinstance(answer, AuthenticationFailedError):
        connection.close_after_answer("authentication failed")
        return SaslAuthenticateResponse(
            error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=str(answer), auth_bytes=b""
        )
    token, lifetime_ms = answer
    return SaslAuthenticateResponse(
        error_code=ErrorCode.NONE, error_message=None, auth_bytes=token, session_lifetime_ms=lifetime_ms
    )


async def authenticate(
    broker: Broker, connection: Connection, token: bytes
) -> tuple[bytes, int] | AuthenticationFailedError:
    """One step of the connection's exchange: the server's token and the session lifetime (0 until
    the exchange completes, or when unbounded), or the failure, counted, logged and delayed."""
    service, session = broker.sasl, connection.sasl
    authenticator = session.authenticator
    assert authenticator is not None
    try:
        answer = await authenticator.step(token)
        if authenticator.user is None:  # more steps to come
            return answer, 0
        lifetime_ms = service.succeeded(session, authenticator, connection.peer)
    except AuthenticationFailedError as failure:
        await service.failed(session, authenticator.mechanism, connection.peer, str(failure))
        session.authenticator = None
        return failure
    connection.principal = f"User:{session.user}"
    connection.authenticated()
    return answer, lifetime_ms


async def raw_sasl_token(broker: Broker, connection: Connection, token: bytes) -> bytes | None:
    """A bare token after a SaslHandshake v0: the server's bare answer, or None to close the connection."""
    if connection.sasl.authenticator is None:
        return None
    answer = await authenticate(broker, connection, token)
    if isinstance(answer, AuthenticationFailedError):
        return None
    if connection.sasl.authenticator is None:  # the exchange is complete: Kafka requests follow
        connection.sasl.raw_tokens = False
    return answer[0]


HANDLES = {SASL_HANDSHAKE.key: handle_sasl_handshake, SASL_AUTHENTICATE.key: handle_sasl_authenticate}
