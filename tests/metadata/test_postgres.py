"""What only the PostgreSQL store promises: migrations under an advisory lock, URLs, lost connections,
change reports between stores sharing a database, the pool size."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.cli import build_parser
from streamhouse.broker.config import config_from
from streamhouse.metadata import open_metadata_store
from streamhouse.metadata.base import (
    BrokerInfo,
    Change,
    ChangesMissed,
    MetadataUnavailableError,
    PartitionChange,
    TopicChange,
)
from streamhouse.metadata.migrations import backend_migrations
from streamhouse.metadata.postgres import LISTEN_APPLICATION_NAME, PostgresMetadataStore
from tests.metadata.contract import chunk
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
        await stores[0].topics.create_topic("t", 1, {})
        assert [topic.name for topic in await stores[3].topics.list_topics()] == ["t"]
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    rows = await fetch(pg_dsn, "SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in rows] == [migration.version for migration in backend_migrations("postgres")]


async def test_heartbeats_use_the_server_clock(pg_store: PostgresMetadataStore, pg_dsn: str) -> None:
    await pg_store.cluster.register_broker(BrokerInfo(1, "a", 9092))
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
        async with pg_store.database.read() as db:
            pid = await db.fetchval("SELECT pg_backend_pid()")
            await fetch(pg_dsn, f"SELECT pg_terminate_backend({int(pid)})")
            await db.fetchval("SELECT pg_sleep(0.05)")
    await pg_store.check()
    assert await pg_store.topics.list_topics() == []


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_other_stores_changes_are_notified(pg_store: PostgresMetadataStore, pg_dsn: str) -> None:
    other = PostgresMetadataStore(pg_dsn, pool_size=1)
    await other.start()
    try:
        changes: list[Change] = []
        pg_store.cluster.subscribe(changes.append)
        topic = await other.topics.create_topic("t", 2, {})
        await other.log.commit_flush("flush/1", 100, [chunk(topic, 1, 3)])
        await other.log.set_log_start_offset(topic.topic_id, 1, 2)
        await eventually(lambda: len(changes) == 3)
        assert changes == [
            TopicChange(topic.topic_id, "t"),
            PartitionChange(topic.topic_id, 1, 0, 3),
            PartitionChange(topic.topic_id, 1, 2, 3),
        ]  # local=False: made by another store
    finally:
        await other.close()


async def test_a_lost_listening_connection_is_remade_and_reports_missed_changes(
    pg_store: PostgresMetadataStore, pg_dsn: str
) -> None:
    changes: list[Change] = []
    pg_store.cluster.subscribe(changes.append)
    database = pg_dsn.rsplit("/", 1)[1]
    await fetch(
        pg_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE application_name = '{LISTEN_APPLICATION_NAME}' AND datname = '{database}'",
    )
    await eventually(lambda: ChangesMissed() in changes)
    other = PostgresMetadataStore(pg_dsn, pool_size=1)
    await other.start()
    try:
        topic = await other.topics.create_topic("after", 1, {})
        await eventually(lambda: TopicChange(topic.topic_id, "after") in changes)
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("argv", "environ"), [(["--metadata-pool-size", "3"], {}), ([], {"STREAMHOUSE_METADATA_POOL_SIZE": "3"})]
)
async def test_pool_size_option_sizes_the_pool(pg_dsn: str, argv: list[str], environ: dict[str, str]) -> None:
    args = build_parser().parse_args(["serve", "--metadata", pg_dsn, *argv])
    broker = Broker(config_from(args, environ))
    store = broker.metadata
    assert isinstance(store, PostgresMetadataStore)
    await store.start()
    try:
        pool = store.database.pool
        assert pool is not None
        assert pool.get_max_size() == 3
    finally:
        await store.close()
        await broker.objects.close()
