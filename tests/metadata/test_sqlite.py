"""What only the SQLite store promises: pragmas, its file, migrations bookkeeping, lock errors."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamhouse.metadata.base import (
    ChunkAppend,
    CommittedOffset,
    FlushCommit,
    IndexEntry,
    MetadataUnavailableError,
    PartitionState,
)
from streamhouse.metadata.migrations import backend_migrations, migrations_in
from streamhouse.metadata.sqlite import SqliteMetadataStore
from streamhouse.storage.objects.base import ObjectStoreUnavailableError
from tests.metadata.contract import chunk


@pytest.fixture
async def file_store(tmp_path: Path) -> AsyncIterator[SqliteMetadataStore]:
    store = SqliteMetadataStore(str(tmp_path / "a" / "b" / "metadata.db"), busy_timeout_ms=50)
    await store.start()
    yield store
    await store.close()


async def in_transaction(store: SqliteMetadataStore) -> bool:
    return await store.database.run(lambda connection: connection.in_transaction)


def applied_versions(path: str) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]


async def test_creates_the_folder_and_uses_wal_and_full_sync(file_store: SqliteMetadataStore) -> None:
    assert Path(file_store.path).is_file()
    assert await file_store.database.fetch("PRAGMA journal_mode") == [("wal",)]
    assert await file_store.database.fetch("PRAGMA synchronous") == [(2,)]  # FULL


async def test_migrations_recorded_once(file_store: SqliteMetadataStore) -> None:
    versions = [migration.version for migration in backend_migrations("sqlite")]
    assert versions[0] == 1
    assert applied_versions(file_store.path) == versions
    await file_store.close()
    await file_store.start()
    await file_store.close()
    again = SqliteMetadataStore(file_store.path)
    await again.start()
    await again.close()
    assert applied_versions(file_store.path) == versions


async def test_memory_store_migrates(tmp_path: Path) -> None:
    store = SqliteMetadataStore(":memory:")
    await store.start()
    try:
        assert await store.topics.list_topics() == []
        assert not list(tmp_path.iterdir())
    finally:
        await store.close()


async def test_locked_database_is_unavailable(file_store: SqliteMetadataStore) -> None:
    blocker = sqlite3.connect(file_store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(MetadataUnavailableError):
            await file_store.topics.create_topic("t", 1, {})
        blocker.execute("ROLLBACK")
        await file_store.topics.create_topic("t", 1, {})
    finally:
        blocker.close()


async def test_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = SqliteMetadataStore(str(tmp_path / "file" / "metadata.db"))
    with pytest.raises(MetadataUnavailableError):
        await store.start()


async def test_a_file_that_is_not_a_database_is_unavailable_and_left_as_it_was(tmp_path: Path) -> None:
    not_a_database = tmp_path / "metadata.db"
    not_a_database.write_bytes(b"no SQLite header here " * 100)
    with pytest.raises(MetadataUnavailableError, match="file is not a database"):
        await SqliteMetadataStore(str(not_a_database)).start()
    assert not_a_database.read_bytes() == b"no SQLite header here " * 100


async def test_unstarted_store_is_unavailable() -> None:
    with pytest.raises(MetadataUnavailableError):
        await SqliteMetadataStore(":memory:").check()


async def test_failed_transaction_rolls_back(file_store: SqliteMetadataStore) -> None:
    await file_store.topics.create_topic("t", 1, {})
    assert not await in_transaction(file_store)

    def update(tx: sqlite3.Connection) -> None:
        tx.execute("UPDATE topics SET partitions = 5")
        tx.execute("UPDATE topics SET partitions = 0")  # CHECK (partitions > 0)

    with pytest.raises(sqlite3.IntegrityError):
        await file_store.database.transaction(update)
    assert not await in_transaction(file_store)
    topic = await file_store.topics.get_topic("t")
    assert topic is not None and topic.partitions == 1


async def test_a_write_before_the_commit_runs_on_the_store_thread_and_its_failure_commits_nothing(
    file_store: SqliteMetadataStore,
) -> None:
    """commit_flushes_after, the embedded default's flush: the object put, then the commit, in one call."""
    topic = await file_store.topics.create_topic("t", 1, {})
    failure = ObjectStoreUnavailableError("put 'flush/1' failed: no space left")
    writes: list[int] = []

    def failing_write() -> None:
        writes.append(threading.get_ident())
        raise failure

    with pytest.raises(ObjectStoreUnavailableError) as raised:
        await file_store.log.commit_flushes_after(failing_write, [FlushCommit("flush/1", 100, [chunk(topic, count=3)])])
    assert raised.value is failure  # unchanged, not taken for a metadata error
    assert not await in_transaction(file_store)
    assert await file_store.log.partition_states(topic.topic_id) == [PartitionState(0, 0)]
    assert await file_store.log.find_index(topic.topic_id, 0, 0, 10) == []

    results = await file_store.log.commit_flushes_after(
        lambda: writes.append(threading.get_ident()), [FlushCommit("flush/2", 100, [chunk(topic, count=3)])]
    )
    assert [[result.base_offset for result in flush] for flush in results] == [[0]]
    assert await file_store.log.partition_states(topic.topic_id) == [PartitionState(0, 3)]
    assert [entry.object_key for entry in await file_store.log.find_index(topic.topic_id, 0, 0, 10)] == ["flush/2"]
    assert len(writes) == 2 and threading.get_ident() not in writes  # off the event loop's thread


def test_migrations_in_order(tmp_path: Path) -> None:
    for name in ("0010_later.sql", "0002_second.sql", "0001_first.sql", "README.md", "__init__.py"):
        (tmp_path / name).write_text(f"-- {name}")
    assert [(m.version, m.name) for m in migrations_in(tmp_path)] == [
        (1, "0001_first.sql"),
        (2, "0002_second.sql"),
        (10, "0010_later.sql"),
    ]
    assert migrations_in(tmp_path)[0].sql == "-- 0001_first.sql"


@pytest.mark.parametrize(
    ("names", "message"),
    [(["0001_a.sql", "0001_b.sql"], "share version 1"), (["1_short.sql"], "not named")],
)
def test_migrations_in_refuses_bad_names(tmp_path: Path, names: list[str], message: str) -> None:
    for name in names:
        (tmp_path / name).write_text("")
    with pytest.raises(ValueError, match=message):
        migrations_in(tmp_path)


async def test_delete_topic_leaves_no_rows(file_store: SqliteMetadataStore) -> None:
    topic = await file_store.topics.create_topic("t", 2, {})
    await file_store.log.commit_flush("flush/1", 100, [ChunkAppend(topic.topic_id, 1, 0, 100, 3, 0, 7, 0, 0)])
    await file_store.groups.commit_offsets("g", [CommittedOffset("t", 1, 3)])
    await file_store.topics.delete_topic("t")
    with sqlite3.connect(file_store.path) as db:
        for table in ("topics", "partitions", "batch_index", "producer_state", "committed_offsets"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        assert db.execute("SELECT object_key FROM objects").fetchall() == [("flush/1",)]


async def test_replace_index_refuses_entries_covering_other_offsets(file_store: SqliteMetadataStore) -> None:
    topic = await file_store.topics.create_topic("t", 1, {})
    await file_store.log.commit_flush("flush/1", 100, [ChunkAppend(topic.topic_id, 0, 0, 100, 4, 0)])
    old = await file_store.log.find_index(topic.topic_id, 0, 0, 10)
    short = [IndexEntry(0, 2, "segment", 0, 100, 0)]
    with pytest.raises(ValueError, match="cover"):
        await file_store.log.replace_index(topic.topic_id, 0, old, short, "segment", 100)
    assert await file_store.log.find_index(topic.topic_id, 0, 0, 10) == old
