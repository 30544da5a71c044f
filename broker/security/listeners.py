"""Listeners as Kafka names them: `--listeners`, `--listener-security-protocol-map`, `--advertised-listeners`.

A listener is a name, a security protocol and an address to bind. A name that is itself a security
protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) maps to it unless the map says otherwise; any
other name must be in the map. Without `--listeners`, `--host` and `--port` make one PLAINTEXT
listener. A listener advertises its `--advertised-listeners` entry of the same name, else its bound
address (its host replaced by `--advertised-host` when that is set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamhouse.metadata.base import ListenerAddress, parse_listeners

if TYPE_CHECKING:
    from streamhouse.broker.config import BrokerConfig

PLAINTEXT = "PLAINTEXT"
SSL = "SSL"
SASL_PLAINTEXT = "SASL_PLAINTEXT"
SASL_SSL = "SASL_SSL"
SECURITY_PROTOCOLS = (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)


@dataclass(frozen=True)
class Listener:
    """One configured listener: its name, its security protocol, what it binds and what it advertises."""

    name: str
    security_protocol: str
    bind: ListenerAddress  # port 0: a free one, picked at bind
    advertised: ListenerAddress | None  # None: the bound address

    @property
    def tls(self) -> bool:
        return self.security_protocol in (SSL, SASL_SSL)

    @property
    def sasl(self) -> bool:
        return self.security_protocol in (SASL_PLAINTEXT, SASL_SSL)


def parse_protocol_map(text: str) -> dict[str, str]:
    """`NAME:PROTOCOL,...` as a dict; ValueError for a malformed entry or an unknown protocol."""
    mapping: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, colon, protocol = item.partition(":")
        name, protocol = name.strip().upper(), protocol.strip().upper()
        if not colon or not name:
            raise ValueError(f"--listener-security-protocol-map: not NAME:PROTOCOL: {item!r}")
        if protocol not in SECURITY_PROTOCOLS:
            raise ValueError(
                f"--listener-security-protocol-map: {protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        mapping[name] = protocol
    return mapping


def configured_listeners(config: BrokerConfig) -> tuple[Listener, ...]:
    """The listeners the configuration asks for, in order; ValueError for an inconsistent configuration."""
    binds = (
        parse_listeners(config.listeners)
        if config.listeners
        else (ListenerAddress(PLAINTEXT, config.host, config.port),)
    )
    if not binds:
        raise ValueError("--listeners names no listener")
    protocols = {name: name for name in SECURITY_PROTOCOLS} | parse_protocol_map(
        config.listener_security_protocol_map or ""
    )
    advertised = {address.name: address for address in parse_listeners(config.advertised_listeners or "")}
    names = [bind.name for bind in binds]
    repeated = {name for name in names if names.count(name) > 1}
    if repeated:
        raise ValueError(f"--listeners: each name once, but {', '.join(sorted(repeated))} repeats")
    unknown = set(advertised) - set(names)
    if unknown:
        raise ValueError(f"--advertised-listeners names listeners --listeners lacks: {', '.join(sorted(unknown))}")
    listeners = []
    for bind in binds:
        if bind.name not in protocols:
            raise ValueError(
                f"listener {bind.name} has no security protocol: add {bind.name}:PROTOCOL to "
                "--listener-security-protocol-map"
            )
        listeners.append(Listener(bind.name, protocols[bind.name], bind, advertised.get(bind.name)))
    sasl = [listener.name for listener in listeners if listener.sasl]
    if sasl and not config.sasl_mechanisms.strip():
        raise ValueError(f"listener {sasl[0]} authenticates with SASL: give it --sasl-mechanisms")
    return tuple(listeners)
