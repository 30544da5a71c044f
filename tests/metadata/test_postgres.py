"""What only the PostgreSQL store promises: migrations under an advisory lock, URLs, lost connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from metadata import open_metadata_store
from metadata.base import BrokerInfo, MetadataUnavailableError
from metadata.migrations import backend_migrations
from metadata.postgres import PostgresMetadataStore
from tests.sessionserver import free_port


@pytest.fixture
async def pg_store(pg_dsn: str) -> AsyncIterator[PostgresMetadataStore]:
    store = PostgresMetadataStore(pg_dsn, pool_size=2)
    await store.start()
    yield store
    await store.close()


async def fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_stores_starting_together_apply_each_migration_once(pg_dsn: str) -> None:
    stores = [PostgresMetadataStore(pg_dsn, pool_size=1) for _ in range(4)]
    await asyncio.gather(*(store.start() for store in stores))
    try:
        await stores[0].create_topic("t", 1, {})
        assert [topic.name for topic in await stores[3].list_topics()] == ["t"]
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    rows = await fetch(pg_dsn, "SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in rows] == [migration.version for migration in backend_migrations("postgres")]


async def test_heartbeats_use_the_server_clock(pg_store: PostgresMetadataStore, pg_dsn: str) -> None:
    await pg_store.register_broker(BrokerInfo(1, "a", 9092))
    rows = await fetch(pg_dsn, "SELECT (extract(epoch FROM now()) * 1000)::bigint - heartbeat_ms FROM brokers")
    assert 0 <= rows[0][0] < 60_000


def test_urls_open_postgres_stores() -> None:
    for url in ("postgresql://user:secret@db:5432/streamhouse", "postgres://db/streamhouse"):
        store = open_metadata_store(url)
        assert isinstance(store, PostgresMetadataStore)
        assert store.dsn == url


async def test_unreachable_server_is_unavailable() -> None:
    store = PostgresMetadataStore(f"postgresql://postgres@127.0.0.1:{free_port()}/streamhouse")
    with pytest.raises(MetadataUnavailableError):
        await store.start()


async def test_a_lost_connection_is_unavailable_then_replaced(pg_store: PostgresMetadataStore, pg_dsn: str) -> None:
    with pytest.raises(MetadataUnavailableError):
        async with pg_store._read() as db:
            pid = await db.fetchval("SELECT pg_backend_pid()")
            await fetch(pg_dsn, f"SELECT pg_terminate_backend({int(pid)})")
            await db.fetchval("SELECT pg_sleep(0.05)")
    await pg_store.check()
    assert await pg_store.list_topics() == []
