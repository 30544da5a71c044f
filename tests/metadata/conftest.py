"""Backends the metadata contract suite runs against.

To add one, write an async context manager yielding a `Backend` whose `open` makes stores on
a fresh database of the test's own, and add it to BACKENDS: every contract test then runs on it.
Tests that need stores sharing one database (they ask for `shared_backend`) run only on the
backends whose stores share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamhouse.metadata.base import MetadataStore
from streamhouse.metadata.postgres import PostgresMetadataStore
from streamhouse.metadata.sqlite import SqliteMetadataStore
from tests.pgserver import shared_server as shared_pg_server


@dataclass(frozen=True)
class Backend:
    open: Callable[[], MetadataStore]  # a new, unstarted store on this test's database
    shared: bool  # stores from `open` share one database: data outlives close(), stores can race


@asynccontextmanager
async def sqlite_memory(tmp_path: Path) -> AsyncIterator[Backend]:
    yield Backend(lambda: SqliteMetadataStore(":memory:"), shared=False)


@asynccontextmanager
async def sqlite_file(tmp_path: Path) -> AsyncIterator[Backend]:
    path = str(tmp_path / "data" / "metadata.db")  # the store creates the missing folder
    yield Backend(lambda: SqliteMetadataStore(path), shared=True)


@asynccontextmanager
async def postgres(tmp_path: Path) -> AsyncIterator[Backend]:
    server = await asyncio.to_thread(shared_pg_server)  # the session's server, started on first use
    dsn = await server.create_database()
    try:
        yield Backend(lambda: PostgresMetadataStore(dsn), shared=True)
    finally:
        await server.drop_database(dsn)


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Backend]]] = {
    "sqlite-memory": sqlite_memory,
    "sqlite-file": sqlite_file,
    "postgres": postgres,
}
SHARED_BACKENDS = {"sqlite-file", "postgres"}  # backends whose stores share one database

OpenStore = Callable[[], Awaitable[MetadataStore]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        shared_only = "shared_backend" in metafunc.fixturenames
        names = [name for name in BACKENDS if name in SHARED_BACKENDS or not shared_only]
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with BACKENDS[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture
async def open_store(backend: Backend) -> AsyncIterator[OpenStore]:
    """Open and start another store on the test's database; all are closed after the test."""
    stores: list[MetadataStore] = []

    async def open_one() -> MetadataStore:
        store = backend.open()
        await store.start()
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> MetadataStore:
    return await open_store()


@pytest.fixture
def shared_backend(backend: Backend) -> Backend:
    """The backend, for tests that need stores sharing a database (only shared backends are given)."""
    assert backend.shared
    return backend
