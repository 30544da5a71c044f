"""Fixtures for the whole suite: a real S3 API (moto, or MinIO under Docker) and a throwaway
PostgreSQL, each started once for the session on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.pgserver import PgServer, start_server
from tests.pgserver import shared_server as shared_pg_server
from tests.pgserver import stop_shared_server as stop_shared_pg_server
from tests.s3server import S3Server, shared_server, stop_shared_server

E2E_TESTS = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/e2e is marked `e2e`, so that `-m "not e2e and not slow"` runs the fast suite."""
    for item in items:
        if item.path.is_relative_to(E2E_TESTS):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    """The session's S3 server, started on first use and stopped when the session ends."""
    return shared_server()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket of the test's own."""
    return s3_server.create_bucket()


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The session's PostgreSQL server, started on first use and stopped when the session ends."""
    return shared_pg_server()


@pytest.fixture
async def pg_dsn(pg_server: PgServer) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database of the test's own, dropped after the test."""
    dsn = await pg_server.create_database()
    yield dsn
    await pg_server.drop_database(dsn)


@pytest.fixture
def own_pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server of the test's own, for tests that halt and resume it."""
    server = start_server()
    yield server
    server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    try:
        stop_shared_server()
    finally:
        stop_shared_pg_server()
