"""Who a connection is: its listener's security protocol, its principal once authenticated, its peer's host.

Authentication (TLS client certificates, SASL) sets `Connection.principal`; the authorizer reads it
with `Connection.peer_host` for every request.
"""

from __future__ import annotations

ANONYMOUS = "User:ANONYMOUS"
