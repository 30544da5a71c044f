"""Console sessions: a random id in an HttpOnly, SameSite=Strict cookie; the CSRF token and principal stay here."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

COOKIE = "streamhouse_console"
IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 1024  # the least recently used goes first


@dataclass
class Session:
    """A browser's session; `principal` is set once its user signed in (or always, without an authorizer)."""

    session_id: str
    csrf: str
    principal: str
    peer_host: str
    signed_in: bool
    last_seen: float

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, anonymous: str) -> None:
        self.anonymous = anonymous  # the principal of a session that has not signed in
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def find(self, session_id: str | None, peer_host: str) -> Session | None:
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        now = time.monotonic()
        if session is None or now - session.last_seen > IDLE_SECONDS:
            return None
        session.last_seen = now
        session.peer_host = peer_host
        self._sessions.move_to_end(session_id)
        return session

    def new(self, peer_host: str, principal: str | None = None) -> Session:
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        session = Session(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            principal or self.anonymous,
            peer_host,
            principal is not None,
            time.monotonic(),
        )
        self._sessions[session.session_id] = session
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)


def cookie_header(session: Session) -> tuple[str, str]:
    return ("Set-Cookie", f"{COOKIE}={session.session_id}; Path=/; HttpOnly; SameSite=Strict")
