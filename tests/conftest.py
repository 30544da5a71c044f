"""Fixtures for the whole suite: a real S3 API (moto, or MinIO under Docker) for the session."""

from __future__ import annotations

import pytest

from tests.s3server import S3Server, shared_server, stop_shared_server


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    """The session's S3 server, started on first use and stopped when the session ends."""
    return shared_server()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket of the test's own."""
    return s3_server.create_bucket()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_shared_server()
