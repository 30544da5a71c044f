"""TLS for the SSL and SASL_SSL listeners: one server context, its certificate reloadable in place.

TLS 1.2 is the oldest version accepted. With `--ssl-client-auth requested` or `required` the client's
certificate is checked against `--ssl-cafile`, and a client that presented one is the principal
`User:` + its subject, written as RFC 2253 (and Kafka's default principal builder) write it:
most specific attribute first, `CN=alice,OU=streams,O=Example`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamhouse.broker.config import BrokerConfig
    from streamhouse.broker.security.listeners import Listener

log = logging.getLogger(__name__)

CLIENT_AUTH_MODES = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

# RFC 2253's keywords, by the names Python's getpeercert() gives the attributes.
_KEYWORDS = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


class ServerTls:
    """The server-side context of the TLS listeners, and the files it loads from."""

    def __init__(self, certfile: str, keyfile: str, password: str | None, cafile: str | None, client_auth: str) -> None:
        if client_auth != "none" and not cafile:
            raise ValueError(f"--ssl-client-auth {client_auth} needs --ssl-cafile to check client certificates")
        self.certfile, self.keyfile, self.password, self.cafile = certfile, keyfile, password, cafile
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.verify_mode = CLIENT_AUTH_MODES[client_auth]
        try:
            self._load(self.context)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"TLS certificate or key cannot be used: {exc}") from None

    def _load(self, context: ssl.SSLContext) -> None:
        context.load_cert_chain(self.certfile, self.keyfile, self.password)
        if self.cafile:
            context.load_verify_locations(self.cafile)

    def reload(self) -> bool:
        """Read the certificate, key and CA files again; new handshakes use them. False if they cannot be used.

        The files are tried on a scratch context first: a certificate that does not match its key
        must not replace a working pair. CA certificates are added to those trusted; one removed
        from the file stays trusted until a restart.
        """
        try:
            self._load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
            self._load(self.context)
        except (OSError, ssl.SSLError) as exc:
            log.error("TLS certificates not reloaded, the previous ones stay in use: %s", exc)
            return False
        log.info("reloaded TLS certificate %s and key %s", self.certfile, self.keyfile)
        return True


def server_tls(config: BrokerConfig, listeners: Sequence[Listener]) -> ServerTls | None:
    """The TLS context the listeners need (None when none is SSL or SASL_SSL); ValueError if it cannot be made."""
    needing = [listener.name for listener in listeners if listener.tls]
    if not needing:
        return None
    if not config.ssl_certfile or not config.ssl_keyfile:
        raise ValueError(f"listener {needing[0]} uses TLS: give it --ssl-certfile and --ssl-keyfile")
    return ServerTls(
        config.ssl_certfile, config.ssl_keyfile, config.ssl_key_password, config.ssl_cafile, config.ssl_client_auth
    )


def certificate_principal(peercert: dict[str, Any] | None) -> str | None:
    """`User:` + the subject of a verified client certificate (getpeercert()'s form), None without one."""
    if not peercert or "subject" not in peercert:
        return None
    return "User:" + subject_name(peercert["subject"])


def subject_name(subject: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A subject as RFC 2253 writes it: its relative names last first, multi-valued ones joined by `+`."""
    return ",".join(
        "+".join(f"{_KEYWORDS.get(kind, kind)}={_escape(value)}" for kind, value in relative)
        for relative in reversed(subject)
    )


def _escape(value: str) -> str:
    escaped = "".join(f"\\{char}" if char in ',+"\\<>;' else char for char in value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped
