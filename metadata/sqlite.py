"""The embedded metadata store: one SQLite file (WAL, synchronous=FULL) through aiosqlite.

One connection, guarded by an asyncio lock, serves the whole process; every write is one
BEGIN IMMEDIATE transaction, so several processes sharing the file serialise on SQLite's
write lock (waiting up to `busy_timeout_ms` for it). Change reports (subscribe) are
in-process only: one broker process owns an embedded store's file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import aiosqlite

from metadata.base import (
    AppendResult,
    BrokerInfo,
    ChangeListener,
    ChunkAppend,
    CommittedOffset,
    FlushCommit,
    GroupRecord,
    IndexEntry,
    InvalidPartitionsError,
    MetadataUnavailableError,
    OffsetOutOfRangeError,
    PartitionChange,
    PartitionState,
    PartitionTransactions,
    TopicChange,
    TopicExistsError,
    TopicInfo,
    TransactionRecord,
    UnknownTopicError,
)
from metadata.changes import ChangeFeed
from metadata.commit import (
    CommitPlan,
    PartitionKey,
    ProducerKey,
    check_replacement,
    group_chunks,
    partition_keys,
    plan_changes,
    plan_group,
    producer_keys,
    transaction_keys,
)
from metadata.migrations import SCHEMA_MIGRATIONS_DDL, Migration, backend_migrations
from metadata.producers import ProducerState
from metadata.transactions import (
    ABORTED_TRANSACTIONS_QUERY,
    OPEN_TRANSACTIONS_QUERY,
    TRANSACTION_COLUMNS,
    partition_transactions,
    transaction_record,
    transaction_row,
)
from tracing import TRACE

# Primary result codes (the low byte of extended ones) meaning the database cannot be used now.
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}
# Keys per `(VALUES ...)` look-up, within the oldest SQLite limit of 999 bound parameters.
_KEYS_PER_QUERY = 300
_TOPIC_COLUMNS = "topic_id, name, partitions, configs"
_INDEX_COLUMNS = "base_offset, last_offset, object_key, position, length, max_timestamp"
_INSERT_INDEX = f"INSERT INTO batch_index (topic_id, partition, {_INDEX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_RECORD_OBJECT = "INSERT OR IGNORE INTO objects (object_key, size, created_ms) VALUES (?, ?, ?)"
_GROUP_COLUMNS = "group_id, protocol_type, generation_id, protocol_name, leader_id, state"
_OFFSET_COLUMNS = "topic, partition, committed_offset, leader_epoch, metadata, commit_ms"
_TRANSACTION_QUERIES = (OPEN_TRANSACTIONS_QUERY, ABORTED_TRANSACTIONS_QUERY)
_COMMIT_OFFSET = f"INSERT OR REPLACE INTO committed_offsets (group_id, {_OFFSET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"

T = TypeVar("T")
Row = Any  # a sqlite3 row: a tuple of column values


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _unavailable(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (exc.sqlite_errorcode & 0xFF) in _UNAVAILABLE_CODES


def _statements(script: str) -> list[str]:
    """Split an SQL script into statements (executescript would commit our open transaction)."""
    statements: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    return [statement for statement in statements if statement.strip(" \t\r\n;")]


def _topic(row: Row) -> TopicInfo:
    return TopicInfo(UUID(hex=row[0]), row[1], row[2], json.loads(row[3]))


def _entry(row: Row) -> IndexEntry:
    return IndexEntry(*row)


def _values(keys: int, width: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * keys)


def _index_row(topic_id: UUID, partition: int, e: IndexEntry) -> tuple[Any, ...]:
    return (topic_id.hex, partition, e.base_offset, e.last_offset, e.object_key, e.position, e.length, e.max_timestamp)


def _offset_row(group_id: str, o: CommittedOffset) -> tuple[Any, ...]:
    return (group_id, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, o.commit_time_ms)


def _batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _KEYS_PER_QUERY):
        yield items[start : start + _KEYS_PER_QUERY]


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Raise MetadataUnavailableError for SQLite errors meaning the database cannot be used now."""
    try:
        yield
    except sqlite3.Error as exc:
        if _unavailable(exc):
            raise MetadataUnavailableError(f"metadata database {path}: {exc}") from exc
        raise


class SqliteMetadataStore:
    """MetadataStore on SQLite; `path` is a file (its folder is created) or ":memory:"."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._changes = ChangeFeed()
        self.applied_migrations: list[int] = []

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        if self._db is not None:
            return
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise MetadataUnavailableError(f"cannot open {self.path}: {exc}") from exc
        try:
            with _translated(self.path):
                await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                await db.execute("PRAGMA journal_mode = WAL")
                # NORMAL may lose the last commits on power loss; produce acks promise durability.
                await db.execute("PRAGMA synchronous = FULL")
            self._db = db
            await self._migrate()
        except BaseException as exc:
            self._db = None
            await db.close()
            if isinstance(exc, sqlite3.Error):  # e.g. "file is not a database": this file cannot be used
                raise MetadataUnavailableError(f"cannot use {self.path}: {exc}") from exc
            raise

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    async def check(self) -> None:
        async with self._read() as db:
            await db.execute_fetchall("SELECT 1")

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute(SCHEMA_MIGRATIONS_DDL)
        self.applied_migrations = [
            migration.version for migration in backend_migrations("sqlite") if await self._apply(migration)
        ]

    async def _apply(self, migration: Migration) -> bool:
        """Apply one migration unless it was; whether this call applied it."""
        async with self._transaction() as db:
            # Checked inside the transaction: another process may have applied it meanwhile.
            done = await db.execute_fetchall("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,))
            if list(done):
                return False
            for statement in _statements(migration.sql):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)", (migration.version, _now_ms())
            )
        return True

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        return self._changes.subscribe(listener)

    # -- connection and transactions -----------------------------------------

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._connection()
            with _translated(self.path):
                yield db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One BEGIN IMMEDIATE ... COMMIT, rolled back if the body or the commit fails."""
        async with self._lock:
            db = self._connection()
            with _translated(self.path):
                try:
                    await db.execute("BEGIN IMMEDIATE")
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    # Even when no transaction seems open: a cancelled call's BEGIN is still queued
                    # on the connection's thread and runs before this ROLLBACK.
                    with suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                    raise

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise MetadataUnavailableError("the metadata store is not started")
        return self._db

    # -- brokers -------------------------------------------------------------

    async def register_broker(self, broker: BrokerInfo) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO brokers (broker_id, host, port, heartbeat_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (broker_id) DO UPDATE"
                " SET host = excluded.host, port = excluded.port, heartbeat_ms = excluded.heartbeat_ms",
                (broker.broker_id, broker.host, broker.port, _now_ms()),
            )

    async def live_brokers(self, max_age_ms: int) -> list[BrokerInfo]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT broker_id, host, port FROM brokers WHERE heartbeat_ms >= ? ORDER BY broker_id",
                (_now_ms() - max_age_ms,),
            )
        return [BrokerInfo(*row) for row in rows]

    async def deregister_broker(self, broker: BrokerInfo) -> None:
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM brokers WHERE broker_id = ? AND host = ? AND port = ?",
                (broker.broker_id, broker.host, broker.port),
            )

    # -- topics --------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        if partitions < 1:
            raise InvalidPartitionsError(f"a topic needs at least one partition, not {partitions}")
        topic = TopicInfo(uuid.uuid4(), name, partitions, dict(configs))
        async with self._transaction() as db:
            if await self._topic_row(db, name) is not None:
                raise TopicExistsError(name)
            await db.execute(
                "INSERT INTO topics (topic_id, name, partitions, configs, created_ms) VALUES (?, ?, ?, ?, ?)",
                (topic.topic_id.hex, name, partitions, json.dumps(topic.configs, sort_keys=True), _now_ms()),
            )
            await self._insert_partitions(db, topic.topic_id.hex, range(partitions))
        self._changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return topic

    async def get_topic(self, name: str) -> TopicInfo | None:
        async with self._read() as db:
            row = await self._topic_row(db, name)
        return None if row is None else _topic(row)

    async def get_topic_by_id(self, topic_id: UUID) -> TopicInfo | None:
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE topic_id = ?", (topic_id.hex,))
            )
        return _topic(rows[0]) if rows else None

    async def list_topics(self) -> list[TopicInfo]:
        async with self._read() as db:
            rows = await db.execute_fetchall(f"SELECT {_TOPIC_COLUMNS} FROM topics ORDER BY name")
        return [_topic(row) for row in rows]

    async def delete_topic(self, name: str) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name))
            key = (topic.topic_id.hex,)
            for table in (
                "batch_index",
                "producer_state",
                "open_transactions",
                "aborted_transactions",
                "partitions",
                "topics",
            ):
                await db.execute(f"DELETE FROM {table} WHERE topic_id = ?", key)
            await db.execute("DELETE FROM committed_offsets WHERE topic = ?", (name,))
        self._changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return topic

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name))
            if count <= topic.partitions:
                raise InvalidPartitionsError(
                    f"topic {name!r} has {topic.partitions} partitions; {count} does not grow it"
                )
            await db.execute("UPDATE topics SET partitions = ? WHERE topic_id = ?", (count, topic.topic_id.hex))
            await self._insert_partitions(db, topic.topic_id.hex, range(topic.partitions, count))
        self._changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return TopicInfo(topic.topic_id, topic.name, count, topic.configs)

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name))
            await db.execute(
                "UPDATE topics SET configs = ? WHERE topic_id = ?",
                (json.dumps(dict(configs), sort_keys=True), topic.topic_id.hex),
            )
        self._changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return TopicInfo(topic.topic_id, topic.name, topic.partitions, dict(configs))

    async def _topic_row(self, db: aiosqlite.Connection, name: str) -> Row | None:
        rows = list(await db.execute_fetchall(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE name = ?", (name,)))
        return rows[0] if rows else None

    async def _existing_topic_row(self, db: aiosqlite.Connection, name: str) -> Row:
        row = await self._topic_row(db, name)
        if row is None:
            raise UnknownTopicError(name)
        return row

    async def _insert_partitions(self, db: aiosqlite.Connection, topic_hex: str, partitions: range) -> None:
        await db.executemany(
            "INSERT INTO partitions (topic_id, partition, log_start_offset, high_watermark) VALUES (?, ?, 0, 0)",
            [(topic_hex, partition) for partition in partitions],
        )

    # -- partitions and the batch index ---------------------------------------

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = ? ORDER BY partition",
                (topic_id.hex,),
            )
        return [PartitionState(*row) for row in rows]

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT partition, sum(length) FROM batch_index WHERE topic_id = ? GROUP BY partition",
                (topic_id.hex,),
            )
        return {partition: size for partition, size in rows}

    async def commit_flush(
        self, object_key: str, object_size: int, chunks: Sequence[ChunkAppend]
    ) -> list[AppendResult]:
        return (await self.commit_flushes([FlushCommit(object_key, object_size, chunks)]))[0]

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        return await self._write_then_commit(_nothing, flushes)

    async def commit_flushes_after(
        self, write: Callable[[], object], flushes: Sequence[FlushCommit]
    ) -> list[list[AppendResult]]:
        return await self._write_then_commit(write, flushes)

    async def _write_then_commit(
        self, write: Callable[[], object], flushes: Sequence[FlushCommit]
    ) -> list[list[AppendResult]]:
        async with self._lock:
            db = self._connection()
            with _translated(self.path):
                # The write and the whole transaction in one call on the connection's thread: one
                # hand-over each way instead of one per step, on the produce path's hottest call.
                # aiosqlite has no public way to run a function there; _execute is how its own
                # methods do it. A cancelled caller leaves the call to finish (commit or roll back).
                plan, results = await db._execute(  # type: ignore[no-untyped-call]  # untyped in aiosqlite
                    _write_then_commit_flushes, db, write, flushes
                )
        self._changes.publish(plan_changes(plan))
        return results  # type: ignore[no-any-return]

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        # Entries never overlap, so the one holding from_offset is the last starting at or before
        # it; starting the range there keeps the scan on the primary key.
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_INDEX_COLUMNS} FROM batch_index"
                " WHERE topic_id = :topic AND partition = :partition AND last_offset >= :offset"
                " AND base_offset >= coalesce((SELECT max(base_offset) FROM batch_index"
                "   WHERE topic_id = :topic AND partition = :partition AND base_offset <= :offset), :offset)"
                " ORDER BY base_offset LIMIT :limit",
                {"topic": topic_id.hex, "partition": partition, "offset": from_offset, "limit": limit},
            )
        return [_entry(row) for row in rows]

    async def find_by_timestamp(self, topic_id: UUID, partition: int, timestamp: int) -> IndexEntry | None:
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_INDEX_COLUMNS} FROM batch_index"
                    " WHERE topic_id = ? AND partition = ? AND max_timestamp >= ? ORDER BY base_offset LIMIT 1",
                    (topic_id.hex, partition, timestamp),
                )
            )
        return _entry(rows[0]) if rows else None

    async def max_timestamp_entry(self, topic_id: UUID, partition: int) -> IndexEntry | None:
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_INDEX_COLUMNS} FROM batch_index WHERE topic_id = :topic AND partition = :partition"
                    " AND max_timestamp = (SELECT max(max_timestamp) FROM batch_index"
                    "   WHERE topic_id = :topic AND partition = :partition)"
                    " ORDER BY base_offset LIMIT 1",
                    {"topic": topic_id.hex, "partition": partition},
                )
            )
        return _entry(rows[0]) if rows else None

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        key = (topic_id.hex, partition)
        async with self._transaction() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = ? AND partition = ?", key
                )
            )
            if not rows:
                raise UnknownTopicError(f"no partition {partition} of topic {topic_id}")
            state = PartitionState(*rows[0])
            if offset > state.high_watermark:
                raise OffsetOutOfRangeError(f"offset {offset} is beyond the high watermark {state.high_watermark}")
            if offset <= state.log_start_offset:
                return state
            await db.execute(
                "UPDATE partitions SET log_start_offset = ? WHERE topic_id = ? AND partition = ?", (offset, *key)
            )
            await db.execute(
                # base_offset < offset bounds the primary-key range; last_offset < offset is the rule.
                "DELETE FROM batch_index WHERE topic_id = ? AND partition = ? AND base_offset < ? AND last_offset < ?",
                (*key, offset, offset),
            )
            await db.execute(
                "DELETE FROM aborted_transactions WHERE topic_id = ? AND partition = ? AND last_offset < ?",
                (*key, offset),
            )
        self._changes.publish([PartitionChange(topic_id, partition, offset, state.high_watermark, local=True)])
        return PartitionState(offset, state.high_watermark)

    async def replace_index(
        self,
        topic_id: UUID,
        partition: int,
        old: Sequence[IndexEntry],
        new: Sequence[IndexEntry],
        object_key: str,
        object_size: int,
    ) -> bool:
        check_replacement(old, new)
        key = (topic_id.hex, partition)
        async with self._transaction() as db:
            for batch in _batches(old):
                rows = await db.execute_fetchall(
                    f"SELECT {_INDEX_COLUMNS} FROM batch_index WHERE topic_id = ? AND partition = ?"
                    f" AND base_offset IN ({', '.join('?' * len(batch))})",
                    (*key, *(entry.base_offset for entry in batch)),
                )
                if {_entry(row) for row in rows} != set(batch):
                    return False
            await db.executemany(
                "DELETE FROM batch_index WHERE topic_id = ? AND partition = ? AND base_offset = ?",
                [(*key, entry.base_offset) for entry in old],
            )
            await db.executemany(_INSERT_INDEX, [_index_row(topic_id, partition, entry) for entry in new])
            await db.execute(_RECORD_OBJECT, (object_key, object_size, _now_ms()))
            states = await db.execute_fetchall(
                "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = ? AND partition = ?", key
            )
        self._changes.publish(
            PartitionChange(topic_id, partition, row[0], row[1], index_rewritten=True, local=True) for row in states
        )
        return True

    # -- producers and objects ------------------------------------------------

    async def allocate_producer_id(self) -> int:
        async with self._transaction() as db:
            rows = list(
                await db.execute_fetchall("UPDATE producer_ids SET next_id = next_id + 1 RETURNING next_id - 1")
            )
        producer_id: int = rows[0][0]
        return producer_id

    # -- transactions -----------------------------------------------------------

    async def get_transaction(self, transactional_id: str) -> TransactionRecord | None:
        async with self._read() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE transactional_id = ?", (transactional_id,)
                )
            )
        return transaction_record(rows[0]) if rows else None

    async def list_transactions(self) -> list[TransactionRecord]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {TRANSACTION_COLUMNS} FROM transactions ORDER BY transactional_id"
            )
        return [transaction_record(row) for row in rows]

    async def save_transaction(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> bool:
        async with self._transaction() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT version FROM transactions WHERE transactional_id = ?", (record.transactional_id,)
                )
            )
            if (rows[0][0] if rows else 0) != record.version - 1:
                return False
            await db.execute(
                f"INSERT OR REPLACE INTO transactions ({TRANSACTION_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                transaction_row(record),
            )
            await db.executemany(_COMMIT_OFFSET, [_offset_row(group, o) for group, o in offsets])
        return True

    async def partition_transactions(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        key = {"topic": topic_id.hex, "partition": partition}
        queries = [query.format(topic=":topic", partition=":partition") for query in _TRANSACTION_QUERIES]
        async with self._read() as db:
            opened, aborted = [await db.execute_fetchall(query, key) for query in queries]
        return partition_transactions(opened, aborted)

    async def unreferenced_objects(self) -> list[str]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT object_key FROM objects AS o"
                " WHERE NOT EXISTS (SELECT 1 FROM batch_index AS b WHERE b.object_key = o.object_key)"
                " ORDER BY object_key"
            )
        return [row[0] for row in rows]

    async def forget_objects(self, keys: Sequence[str]) -> None:
        async with self._transaction() as db:
            await db.executemany("DELETE FROM objects WHERE object_key = ?", [(key,) for key in keys])

    async def known_objects(self, keys: Sequence[str]) -> set[str]:
        known: set[str] = set()
        async with self._read() as db:
            for batch in _batches(keys):
                marks = ", ".join("?" * len(batch))
                rows = await db.execute_fetchall(f"SELECT object_key FROM objects WHERE object_key IN ({marks})", batch)
                known.update(row[0] for row in rows)
        return known

    # -- consumer groups -------------------------------------------------------

    async def save_group(self, group: GroupRecord) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"INSERT OR REPLACE INTO consumer_groups ({_GROUP_COLUMNS}, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    group.group_id,
                    group.protocol_type,
                    group.generation_id,
                    group.protocol_name,
                    group.leader_id,
                    group.state,
                    _now_ms(),
                ),
            )

    async def list_groups(self) -> list[GroupRecord]:
        async with self._read() as db:
            rows = await db.execute_fetchall(f"SELECT {_GROUP_COLUMNS} FROM consumer_groups ORDER BY group_id")
        return [GroupRecord(*row) for row in rows]

    async def delete_group(self, group_id: str) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM committed_offsets WHERE group_id = ?", (group_id,))
            await db.execute("DELETE FROM consumer_groups WHERE group_id = ?", (group_id,))

    async def commit_offsets(self, group_id: str, offsets: Sequence[CommittedOffset]) -> None:
        async with self._transaction() as db:
            await db.executemany(_COMMIT_OFFSET, [_offset_row(group_id, o) for o in offsets])

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> list[CommittedOffset]:
        rows: list[Row] = []
        async with self._read() as db:
            if partitions is None:
                rows.extend(
                    await db.execute_fetchall(
                        f"SELECT {_OFFSET_COLUMNS} FROM committed_offsets WHERE group_id = ?", (group_id,)
                    )
                )
            for batch in _batches(sorted(set(partitions or ()))):
                rows.extend(
                    await db.execute_fetchall(
                        "SELECT o.topic, o.partition, o.committed_offset, o.leader_epoch, o.metadata, o.commit_ms"
                        f" FROM (VALUES {_values(len(batch), 2)}) AS k JOIN committed_offsets AS o"
                        " ON o.group_id = ? AND o.topic = k.column1 AND o.partition = k.column2",
                        [*(value for pair in batch for value in pair), group_id],
                    )
                )
        return sorted((CommittedOffset(*row) for row in rows), key=lambda o: (o.topic, o.partition))

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "DELETE FROM committed_offsets WHERE group_id = ? AND topic = ? AND partition = ?",
                [(group_id, topic, partition) for topic, partition in partitions],
            )


def _nothing() -> None:
    """commit_flushes's write: none."""


def _write_then_commit_flushes(
    db: aiosqlite.Connection, write: Callable[[], object], flushes: Sequence[FlushCommit]
) -> tuple[CommitPlan, list[list[AppendResult]]]:
    """SqliteMetadataStore.commit_flushes_after's write and transaction, run on the connection's own thread."""
    write()
    return _commit_flushes(db, flushes)


def _commit_flushes(
    db: aiosqlite.Connection, flushes: Sequence[FlushCommit]
) -> tuple[CommitPlan, list[list[AppendResult]]]:
    """The transaction of SqliteMetadataStore.commit_flushes (and of commit_flushes_after, after its write)."""
    conn = db._conn
    TRACE.event("commit thread", flushes)
    conn.execute("BEGIN IMMEDIATE")
    try:
        now_ms = _now_ms()
        conn.executemany(_RECORD_OBJECT, [(flush.object_key, flush.object_size, now_ms) for flush in flushes])
        chunks = group_chunks(flushes)
        partitions = _partition_states(conn, partition_keys(chunks))
        producers = _producer_states(conn, producer_keys(chunks, partitions))
        transactions = _open_transactions(conn, transaction_keys(chunks, partitions))
        plan, results = plan_group(flushes, partitions, producers, transactions)
        # Statements with nothing to write are skipped: each one hands the GIL over and back.
        _execute_rows(
            conn, _INSERT_INDEX, [_index_row(topic_id, partition, e) for topic_id, partition, e in plan.entries]
        )
        _execute_rows(
            conn,
            "UPDATE partitions SET high_watermark = ? WHERE topic_id = ? AND partition = ?",
            [
                (state.high_watermark, topic_id.hex, partition)
                for (topic_id, partition), state in sorted(plan.partitions.items())
            ],
        )
        _execute_rows(
            conn,
            "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, recent_batches)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic_id, partition, producer_id) DO UPDATE"
            " SET producer_epoch = excluded.producer_epoch, recent_batches = excluded.recent_batches",
            [
                (topic_id.hex, partition, producer_id, state.epoch, state.to_json())
                for (topic_id, partition, producer_id), state in sorted(plan.producers.items())
            ],
        )
        _write_transactions(conn, plan)
        TRACE.event("commit statement", flushes)
        conn.execute("COMMIT")
        TRACE.event("commit thread done", flushes)
    except BaseException:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return plan, results


def _partition_states(conn: sqlite3.Connection, keys: Sequence[PartitionKey]) -> dict[PartitionKey, PartitionState]:
    """The existing partitions among `keys`, read in key order (PostgreSQL: SELECT ... FOR UPDATE)."""
    rows = _keyed_rows(
        conn,
        "SELECT p.topic_id, p.partition, p.log_start_offset, p.high_watermark"
        " FROM (VALUES {keys}) AS k JOIN partitions AS p"
        " ON p.topic_id = k.column1 AND p.partition = k.column2 ORDER BY p.topic_id, p.partition",
        keys,
    )
    return {(row[0], row[1]): PartitionState(row[2], row[3]) for row in rows}


def _producer_states(conn: sqlite3.Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, ProducerState]:
    rows = _keyed_rows(
        conn,
        "SELECT s.topic_id, s.partition, s.producer_id, s.producer_epoch, s.recent_batches"
        " FROM (VALUES {keys}) AS k JOIN producer_state AS s"
        " ON s.topic_id = k.column1 AND s.partition = k.column2 AND s.producer_id = k.column3"
        " ORDER BY s.topic_id, s.partition, s.producer_id",
        keys,
    )
    return {(row[0], row[1], row[2]): ProducerState.from_json(row[3], row[4]) for row in rows}


def _open_transactions(conn: sqlite3.Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, int]:
    rows = _keyed_rows(
        conn,
        "SELECT t.topic_id, t.partition, t.producer_id, t.first_offset"
        " FROM (VALUES {keys}) AS k JOIN open_transactions AS t"
        " ON t.topic_id = k.column1 AND t.partition = k.column2 AND t.producer_id = k.column3",
        keys,
    )
    return {(row[0], row[1], row[2]): row[3] for row in rows}


def _write_transactions(conn: sqlite3.Connection, plan: CommitPlan) -> None:
    """The open transactions a plan opened and closed, and the aborted ranges it recorded."""
    _execute_rows(
        conn,
        "INSERT OR REPLACE INTO open_transactions (topic_id, partition, producer_id, first_offset) VALUES (?, ?, ?, ?)",
        [(topic_id.hex, partition, producer_id, first) for (topic_id, partition, producer_id), first in plan.opened()],
    )
    _execute_rows(
        conn,
        "DELETE FROM open_transactions WHERE topic_id = ? AND partition = ? AND producer_id = ?",
        [(topic_id.hex, partition, producer_id) for topic_id, partition, producer_id in plan.closed()],
    )
    _execute_rows(
        conn,
        "INSERT OR IGNORE INTO aborted_transactions (topic_id, partition, producer_id, first_offset, last_offset)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (topic_id.hex, partition, a.producer_id, a.first_offset, a.last_offset)
            for topic_id, partition, a in plan.aborted
        ],
    )


def _execute_rows(conn: sqlite3.Connection, statement: str, rows: Sequence[Sequence[object]]) -> None:
    """executemany, unless there are no rows."""
    if rows:
        conn.executemany(statement, rows)


def _keyed_rows(conn: sqlite3.Connection, query: str, keys: Sequence[tuple[UUID, *tuple[int, ...]]]) -> Iterator[Row]:
    """The rows of `query` joined to `keys` (a topic id, then integers) put at its {keys}, a batch at a time.

    Each row's first column, the topic id, comes back as the keys' own UUID: parsing one from its hex
    costs microseconds, and a commit reads a row per partition it appends to.
    """
    hexes = {topic_id: topic_id.hex for topic_id in {key[0] for key in keys}}
    topic_ids = {hex_id: topic_id for topic_id, hex_id in hexes.items()}
    for batch in _batches(keys):
        values = _values(len(batch), len(batch[0]))
        for row in conn.execute(query.format(keys=values), [v for key in batch for v in (hexes[key[0]], *key[1:])]):
            yield (topic_ids[row[0]], *row[1:])
