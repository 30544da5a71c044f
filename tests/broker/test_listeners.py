"""Listener configuration (names, security protocols, advertised addresses), client-certificate
principals, and Metadata giving every broker's address on the client's listener."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.config import BrokerConfig
from streamhouse.broker.security.listeners import Listener, configured_listeners
from streamhouse.broker.security.tls import ServerTls, certificate_principal, subject_name
from streamhouse.broker.server import Connection
from streamhouse.metadata.base import BrokerInfo, ListenerAddress
from streamhouse.protocol.apis.metadata import METADATA
from tests.broker.inprocess import running_broker
from tests.broker.test_admin_handlers import call
from tests.tlscerts import TestCA


def test_without_listeners_host_and_port_make_one_plaintext_listener() -> None:
    (only,) = configured_listeners(BrokerConfig(host="10.0.0.5", port=9999))
    assert only == Listener("PLAINTEXT", "PLAINTEXT", ListenerAddress("PLAINTEXT", "10.0.0.5", 9999), None)


def test_a_name_that_is_a_protocol_needs_no_map_and_others_take_the_map() -> None:
    config = BrokerConfig(
        listeners="PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093,internal://[::1]:9094,SSL://:9095",
        listener_security_protocol_map="INTERNAL:sasl_plaintext,SSL:PLAINTEXT",
        advertised_listeners="SASL_SSL://kafka.example.com:443",
        sasl_mechanisms="PLAIN",
    )
    assert [(listener.name, listener.security_protocol, listener.tls, listener.sasl) for listener in
            configured_listeners(config)] == [
        ("PLAINTEXT", "PLAINTEXT", False, False),
        ("SASL_SSL", "SASL_SSL", True, True),
        ("INTERNAL", "SASL_PLAINTEXT", False, True),
        ("SSL", "PLAINTEXT", False, False),  # the map overrides a name's own protocol, as in Kafka
    ]  # fmt: skip
    binds = [listener.bind for listener in configured_listeners(config)]
    assert binds[2] == ListenerAddress("INTERNAL", "::1", 9094) and str(binds[2]) == "INTERNAL://[::1]:9094"
    assert binds[3].host == ""  # all interfaces
    advertised = [listener.advertised for listener in configured_listeners(config)]
    assert advertised == [None, ListenerAddress("SASL_SSL", "kafka.example.com", 443), None, None]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"listeners": "INTERNAL://127.0.0.1:9092"}, "listener INTERNAL has no security protocol"),
        ({"listeners": "PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093"}, "PLAINTEXT repeats"),
        ({"listeners": "PLAINTEXT://127.0.0.1"}, "not a listener NAME://host:port"),
        ({"listeners": "127.0.0.1:9092"}, "not a listener NAME://host:port"),
        ({"listeners": ","}, "names no listener"),
        ({"listener_security_protocol_map": "A:TLS"}, "'TLS' is not one of"),
        ({"listener_security_protocol_map": "A"}, "not NAME:PROTOCOL"),
        ({"advertised_listeners": "SSL://h:1"}, "--advertised-listeners names listeners --listeners lacks: SSL"),
        ({"listeners": "SASL_PLAINTEXT://127.0.0.1:9092"}, "SASL_PLAINTEXT authenticates with SASL: give it --sasl"),
    ],
)
def test_inconsistent_listener_settings_are_refused(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        configured_listeners(BrokerConfig(**settings))


def test_tls_listeners_need_a_certificate_and_client_auth_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="listener SSL uses TLS: give it --ssl-certfile and --ssl-keyfile"):
        Broker(BrokerConfig(listeners="SSL://127.0.0.1:0", data_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="--ssl-client-auth required needs --ssl-cafile"):
        Broker(
            BrokerConfig(
                listeners="SSL://127.0.0.1:0",
                ssl_certfile="cert.pem",
                ssl_keyfile="key.pem",
                ssl_client_auth="required",
                data_dir=str(tmp_path),
            )
        )
    with pytest.raises(ValueError, match="TLS certificate or key cannot be used"):
        Broker(
            BrokerConfig(
                listeners="SASL_SSL://127.0.0.1:0",
                sasl_mechanisms="PLAIN",
                ssl_certfile=str(tmp_path / "absent.pem"),
                ssl_keyfile=str(tmp_path / "absent-key.pem"),
                data_dir=str(tmp_path),
            )
        )


def test_a_certificate_subject_is_written_as_rfc_2253_writes_it() -> None:
    subject = (
        (("countryName", "DE"),),
        (("organizationName", "Example, Inc."),),
        (("organizationalUnitName", "streams"), ("userId", "7")),
        (("commonName", " alice+bob "),),
        (("emailAddress", "alice@example.com"),),
    )
    assert subject_name(subject) == (
        "emailAddress=alice@example.com,CN=\\ alice\\+bob\\ ,OU=streams+UID=7,O=Example\\, Inc.,C=DE"
    )
    assert certificate_principal({"subject": ((("commonName", "alice"),),)}) == "User:CN=alice"
    assert certificate_principal({}) is None  # no certificate, or one not checked (client auth none)


async def test_metadata_gives_every_broker_at_its_address_on_the_clients_listener(tmp_path: Path) -> None:
    async with running_broker(
        tmp_path,
        listeners="INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
        listener_security_protocol_map="INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        advertised_listeners="EXTERNAL://public.example.com:19092",
    ) as broker:
        internal_port = broker.bound_ports["INTERNAL"]
        assert broker.port == internal_port  # the first listener's
        other = (
            ListenerAddress("INTERNAL", "10.0.0.2", 9092),
            ListenerAddress("EXTERNAL", "public.example.com", 29092),
        )
        await broker.metadata.cluster.register_broker(BrokerInfo(1, "10.0.0.2", 9092, other))
        await broker.metadata.cluster.register_broker(BrokerInfo(2, "10.0.0.3", 9092))  # registered without names
        await broker.refresh_cluster()
        seen = {}
        for listener in broker.listeners:
            response = await call(broker, METADATA, 12, METADATA.Request(topics=[]), Connection(broker, listener))
            seen[listener.name] = [(b.node_id, b.host, b.port) for b in response.brokers]
    assert seen == {
        "INTERNAL": [(0, "127.0.0.1", internal_port), (1, "10.0.0.2", 9092), (2, "10.0.0.3", 9092)],
        "EXTERNAL": [(0, "public.example.com", 19092), (1, "public.example.com", 29092), (2, "10.0.0.3", 9092)],
    }


def handshake(server: ssl.SSLContext, client_context: ssl.SSLContext) -> ssl.SSLObject:
    """A TLS handshake between the contexts, run in memory; the client's end. The server's refusal raises."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    served = server.wrap_bio(server_in, server_out, server_side=True)
    done: set[str] = set()
    for _ in range(8):  # TLS 1.2 takes two round trips
        for name, side in (("client", client), ("server", served)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
                done.add(name)
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    assert done == {"client", "server"}
    return client


def client_of(ca: TestCA, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client trusting `ca`; with `version`, offering that TLS version only."""
    context = ssl.create_default_context(cafile=str(ca.cert))
    if version is not None:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 only at level 0
        context.minimum_version = context.maximum_version = version
    return context


def served_certificate(server: ssl.SSLContext, ca: TestCA) -> bytes:
    certificate = handshake(server, client_of(ca)).getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def test_tls_1_2_is_the_oldest_version_accepted(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    server = ca.server()
    context = ServerTls(str(server.cert), str(server.key), None, None, "none").context
    assert handshake(context, client_of(ca)).version() == "TLSv1.3"
    assert handshake(context, client_of(ca, ssl.TLSVersion.TLSv1_2)).version() == "TLSv1.2"
    with pytest.warns(DeprecationWarning, match="TLSv1_1"):
        old_client = client_of(ca, ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):  # the server's answer to the client's hello
        handshake(context, old_client)


def test_a_reload_of_files_that_do_not_match_keeps_the_pair_in_use(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    first = ca.server("first")
    first_der = ssl.PEM_cert_to_DER_cert(first.cert.read_text())
    tls = ServerTls(str(first.cert), str(first.key), None, None, "none")
    assert served_certificate(tls.context, ca) == first_der
    other = ca.server("other")
    first.cert.write_bytes(other.cert.read_bytes())  # a certificate whose key is not the key file's
    assert not tls.reload()
    assert served_certificate(tls.context, ca) == first_der
    first.key.write_bytes(other.key.read_bytes())  # now they match again
    assert tls.reload()
    assert served_certificate(tls.context, ca) == ssl.PEM_cert_to_DER_cert(other.cert.read_text())


def test_serve_refuses_an_inconsistent_listener_configuration(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamhouse.broker.cli",
            "serve",
            "--listeners",
            "INTERNAL://127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "streamhouse serve: listener INTERNAL has no security protocol" in done.stderr
