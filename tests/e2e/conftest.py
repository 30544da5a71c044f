"""End-to-end fixtures: brokers as `streamhouse serve` subprocesses on free ports, on any backend.

A backend id names the stores a broker runs on: "default" (SQLite and a folder, the embedded
default), "postgresql" (PostgreSQL metadata, objects in a folder), "s3" (SQLite, objects in
S3) and "postgresql-s3". `backend_args` turns an id into `streamhouse serve` flags: each
PostgreSQL broker gets a fresh database on the session's PostgreSQL server (dropped when the
requesting fixture's scope ends), each S3 broker a fresh bucket on the session's S3 server.
Tests take the `backend` fixture (parametrised over BACKENDS, or over a subset with
`@pytest.mark.parametrize("backend", [...], indirect=True)`), so test ids name the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.groups import Member
from tests.faultproxy import FaultProxy
from tests.pgserver import PgServer
from tests.s3server import S3Server
from tests.tlsfiles import TlsFiles, make_tls_files

DEFAULT = "default"
BACKENDS = (DEFAULT, "postgresql", "s3", "postgresql-s3")


def backend_args(backend: str, request: pytest.FixtureRequest) -> list[str]:
    """`streamhouse serve` flags for the backend, on stores of its own that outlive `request`'s scope only."""
    parts = set(backend.split("-"))
    if not parts <= {DEFAULT, "postgresql", "s3"}:
        raise ValueError(f"unknown backend {backend!r}")
    args: list[str] = []
    if "postgresql" in parts:
        pg_server: PgServer = request.getfixturevalue("pg_server")
        dsn = asyncio.run(pg_server.create_database())
        request.addfinalizer(lambda: asyncio.run(pg_server.drop_database(dsn)))
        args += ["--metadata", dsn]
    if "s3" in parts:
        s3_server: S3Server = request.getfixturevalue("s3_server")
        args += s3_server.storage_args(s3_server.create_bucket())
    return args


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> list[str]:
    """The flags of a backend of the test's own (see backend_args), for the brokers the test starts."""
    return backend_args(request.param, request)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker shared by a test module (tests use distinct topics)."""
    process = BrokerProcess(tmp_path_factory.mktemp("broker")).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker of the test's own, for restarts and kills."""
    process = BrokerProcess(tmp_path / "broker").start()
    yield process
    process.kill()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, with the broker and client certificates it signed, for the TLS tests (tests/tlscerts.py)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session's S3 server, passing everything until told otherwise."""
    upstream = urlsplit(s3_server.endpoint)
    assert upstream.hostname is not None and upstream.port is not None
    proxy = FaultProxy(upstream.hostname, upstream.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    """Every consumer group member a test starts; any still running at the end is killed."""
    started: list[Member] = []
    yield started
    for member in started:
        member.stop_if_running()
