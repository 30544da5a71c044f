"""The production metadata store: PostgreSQL through an asyncpg connection pool.

Every write is one transaction at READ COMMITTED. Writes that change a partition lock its row
first (SELECT ... FOR UPDATE; commit_flush locks all it touches in (topic id, partition) order),
so brokers sharing the database serialise on each partition instead of deadlocking. Times
(heartbeats, creation times) come from the database server's clock. Migrations run at start()
under a PostgreSQL advisory lock, so brokers starting together apply each one once.

Change reports: every transaction that changes a partition or a topic also sends pg_notify on
CHANGES_CHANNEL (delivered at commit), and each store LISTENs on a dedicated connection, so
brokers learn of each other's commits without polling. The listening connection is checked
every LISTEN_CHECK_SECONDS; once lost it is remade, and the subscribers get ChangesMissed, as
notifications sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from metadata.base import (
    AppendResult,
    BrokerInfo,
    Change,
    ChangeListener,
    ChangesMissed,
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
from metadata.migrations import SCHEMA_MIGRATIONS_DDL, backend_migrations
from metadata.producers import ProducerState
from metadata.transactions import (
    ABORTED_TRANSACTIONS_QUERY,
    OPEN_TRANSACTIONS_QUERY,
    TRANSACTION_COLUMNS,
    partition_transactions,
    transaction_record,
    transaction_row,
)

log = logging.getLogger(__name__)

# Key of the session advisory lock held while migrating ("STRH" as a 32-bit number).
MIGRATION_LOCK = 0x53545248
CHANGES_CHANNEL = "streamhouse_changes"
LISTEN_APPLICATION_NAME = "streamhouse-listen"
LISTEN_CHECK_SECONDS = 2.0  # how often the listening connection is probed, and the probe's timeout
LISTEN_RETRY_SECONDS = 0.5  # pause between attempts to remake it
_NOW_MS = "(extract(epoch FROM now()) * 1000)::bigint"  # the server's clock, in milliseconds
_TOPIC_COLUMNS = "topic_id, name, partitions, configs"
_INDEX_COLUMNS = "base_offset, last_offset, object_key, position, length, max_timestamp"
_INSERT_INDEX = (
    f"INSERT INTO batch_index (topic_id, partition, {_INDEX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
_RECORD_OBJECT = f"INSERT INTO objects (object_key, size, created_ms) VALUES ($1, $2, {_NOW_MS}) ON CONFLICT DO NOTHING"
_GROUP_COLUMNS = "group_id, protocol_type, generation_id, protocol_name, leader_id, state"
_OFFSET_COLUMNS = "topic, partition, committed_offset, leader_epoch, metadata, commit_ms"
_TRANSACTION_QUERIES = (OPEN_TRANSACTIONS_QUERY, ABORTED_TRANSACTIONS_QUERY)
_COMMIT_OFFSET = (
    f"INSERT INTO committed_offsets (group_id, {_OFFSET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE"
    " SET committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch,"
    " metadata = excluded.metadata, commit_ms = excluded.commit_ms"
)
# Errors meaning the server cannot be reached or used now (a restart, a shutdown, a full server).
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError too
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,  # admin or crash shutdown, query cancelled
    asyncpg.TooManyConnectionsError,
    # A query sent on a connection the server just dropped, before the client noticed the close,
    # can find the client's protocol state stuck; the pool then replaces the connection.
    asyncpg.InternalClientError,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = PoolConnectionProxy[asyncpg.Record]


def _topic(row: asyncpg.Record) -> TopicInfo:
    return TopicInfo(_uuid(row[0]), row[1], row[2], json.loads(row[3]))


def _uuid(value: UUID) -> UUID:
    """A plain uuid.UUID (asyncpg returns its own subclass)."""
    return UUID(int=value.int)


def _entry(row: asyncpg.Record) -> IndexEntry:
    return IndexEntry(*row)


def _index_row(topic_id: UUID, partition: int, e: IndexEntry) -> tuple[Any, ...]:
    return (topic_id, partition, e.base_offset, e.last_offset, e.object_key, e.position, e.length, e.max_timestamp)


def _offset_row(group_id: str, o: CommittedOffset) -> tuple[Any, ...]:
    return (group_id, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, o.commit_time_ms)


def _closed(exc: asyncpg.InterfaceError) -> bool:
    """An InterfaceError about a closed connection or pool (others are programming errors).

    A pooled connection the server dropped is handed back to the pool at once, so later calls
    on it say it was released.
    """
    message = str(exc)
    return any(words in message for words in ("closed", "closing", "released back to the pool"))


@contextmanager
def _translated(dsn_host: str) -> Iterator[None]:
    """Raise MetadataUnavailableError for errors meaning the database cannot be used now."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise MetadataUnavailableError(f"metadata database {dsn_host}: {exc}") from exc
    except asyncpg.InterfaceError as exc:
        if _closed(exc):
            raise MetadataUnavailableError(f"metadata database {dsn_host}: {exc}") from exc
        raise


def _payload(origin: str, change: PartitionChange | TopicChange) -> str:
    """A change as a notification payload (JSON, far below PostgreSQL's 8000-byte limit)."""
    if isinstance(change, PartitionChange):
        return json.dumps(
            {
                "origin": origin,
                "topic_id": change.topic_id.hex,
                "partition": change.partition,
                "log_start_offset": change.log_start_offset,
                "high_watermark": change.high_watermark,
                "index_rewritten": change.index_rewritten,
                "transactions": change.transactions,
            }
        )
    return json.dumps({"origin": origin, "topic_id": change.topic_id.hex, "topic": change.name})


def _parse_payload(payload: str) -> tuple[str, Change]:
    """The origin and the change of a notification payload (from another store: local=False)."""
    fields = json.loads(payload)
    topic_id = UUID(fields["topic_id"])
    if "topic" in fields:
        return fields["origin"], TopicChange(topic_id, fields["topic"])
    change = PartitionChange(
        topic_id,
        fields["partition"],
        fields["log_start_offset"],
        fields["high_watermark"],
        index_rewritten=fields["index_rewritten"],
        transactions=fields.get("transactions", False),  # absent from brokers older than transactions
    )
    return fields["origin"], change


def _where(dsn: str) -> str:
    """The DSN without its password, for messages."""
    rest = dsn.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1]


class PostgresMetadataStore:
    """MetadataStore on PostgreSQL; `dsn` is a postgresql:// URL, `pool_size` the most connections."""

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self.dsn = dsn
        self.pool_size = pool_size
        self._where = _where(dsn)
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._changes = ChangeFeed()
        self._origin = secrets.token_hex(8)  # tells this store's notifications from others'
        self._listener: asyncio.Task[None] | None = None
        self.applied_migrations: list[int] = []

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        if self._pool is not None:
            return
        with _translated(self._where):
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                server_settings={"application_name": "streamhouse"},
            )
        try:
            with _translated(self._where):
                self.applied_migrations = await self._migrate(pool)
                listening = await self._connect_listener()
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool
        self._listener = asyncio.create_task(self._keep_listening(listening), name="metadata-listen")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except BaseException:
                pool.terminate()
                raise

    async def check(self) -> None:
        async with self._read() as db:
            await db.fetchval("SELECT 1")

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        return self._changes.subscribe(listener)

    async def _migrate(self, pool: asyncpg.Pool[asyncpg.Record]) -> list[int]:
        """Apply the pending migrations; the versions applied."""
        applied = []
        async with pool.acquire() as db:
            # A session lock: released by the unlock below, or by the server if the connection
            # drops (and by the pool's reset if this is cancelled before the unlock).
            await db.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await db.execute(SCHEMA_MIGRATIONS_DDL)
                done = {row[0] for row in await db.fetch("SELECT version FROM schema_migrations")}
                for migration in backend_migrations("postgres"):
                    if migration.version in done:
                        continue
                    async with db.transaction():
                        await db.execute(migration.sql)  # no arguments: several statements allowed
                        await db.execute(
                            f"INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, {_NOW_MS})",
                            migration.version,
                        )
                    applied.append(migration.version)
            finally:
                await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        return applied

    # -- change notifications ----------------------------------------------------

    async def _connect_listener(self) -> asyncpg.Connection[asyncpg.Record]:
        connection: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
            self.dsn,
            timeout=LISTEN_CHECK_SECONDS * 5,
            server_settings={"application_name": LISTEN_APPLICATION_NAME},
        )
        try:
            await connection.add_listener(CHANGES_CHANNEL, self._notified)
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _keep_listening(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        """Watch the listening connection; when it is lost, remake it and report ChangesMissed."""
        try:
            while True:
                await self._watch(connection)
                connection.terminate()
                log.warning("metadata change notifications from %s lost; reconnecting", self._where)
                connection = await self._reconnect_listener()
                log.info("metadata change notifications from %s back; every cache is stale", self._where)
                self._changes.publish([ChangesMissed()])
        finally:
            connection.terminate()

    async def _watch(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        """Return once the connection is closed or stops answering."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        while not connection.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), LISTEN_CHECK_SECONDS)
            except TimeoutError:
                try:
                    await connection.fetchval("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
                except Exception as exc:  # any failure of a one-row probe means the connection is unusable
                    log.debug("listening connection probe failed: %r", exc)
                    return

    async def _reconnect_listener(self) -> asyncpg.Connection[asyncpg.Record]:
        while True:
            await asyncio.sleep(LISTEN_RETRY_SECONDS)
            try:
                return await self._connect_listener()
            except Exception as exc:  # refused, starting up, shutting down: try again
                log.debug("reconnecting the listening connection failed: %r", exc)

    def _notified(self, connection: object, pid: int, channel: str, payload: object) -> None:
        origin, change = _parse_payload(str(payload))
        if origin != self._origin:
            self._changes.publish([change])

    async def _notify(self, db: Connection, changes: Iterable[PartitionChange | TopicChange]) -> None:
        """Send the changes to every listening store when the transaction of `db` commits."""
        payloads = [(CHANGES_CHANNEL, _payload(self._origin, change)) for change in changes]
        if payloads:
            await db.executemany("SELECT pg_notify($1, $2)", payloads)

    # -- connections and transactions -----------------------------------------

    def _live_pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise MetadataUnavailableError("the metadata store is not started")
        return self._pool

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Connection]:
        pool = self._live_pool()
        with _translated(self._where):
            async with pool.acquire() as db:
                yield db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """One transaction on a pooled connection, rolled back if the body or the commit fails."""
        pool = self._live_pool()
        with _translated(self._where):
            async with pool.acquire() as db, db.transaction():
                yield db

    # -- brokers -------------------------------------------------------------

    async def register_broker(self, broker: BrokerInfo) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO brokers (broker_id, host, port, heartbeat_ms) VALUES ($1, $2, $3, {_NOW_MS})"
                " ON CONFLICT (broker_id) DO UPDATE"
                " SET host = excluded.host, port = excluded.port, heartbeat_ms = excluded.heartbeat_ms",
                broker.broker_id,
                broker.host,
                broker.port,
            )

    async def live_brokers(self, max_age_ms: int) -> list[BrokerInfo]:
        async with self._read() as db:
            rows = await db.fetch(
                f"SELECT broker_id, host, port FROM brokers WHERE heartbeat_ms >= {_NOW_MS} - $1 ORDER BY broker_id",
                max_age_ms,
            )
        return [BrokerInfo(*row) for row in rows]

    async def deregister_broker(self, broker: BrokerInfo) -> None:
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM brokers WHERE broker_id = $1 AND host = $2 AND port = $3",
                broker.broker_id,
                broker.host,
                broker.port,
            )

    # -- topics --------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        if partitions < 1:
            raise InvalidPartitionsError(f"a topic needs at least one partition, not {partitions}")
        topic = TopicInfo(uuid.uuid4(), name, partitions, dict(configs))
        change = TopicChange(topic.topic_id, name, local=True)
        try:
            async with self._transaction() as db:
                if await self._topic_row(db, name) is not None:
                    raise TopicExistsError(name)
                await db.execute(
                    "INSERT INTO topics (topic_id, name, partitions, configs, created_ms)"
                    f" VALUES ($1, $2, $3, $4::jsonb, {_NOW_MS})",
                    topic.topic_id,
                    name,
                    partitions,
                    json.dumps(topic.configs, sort_keys=True),
                )
                await self._insert_partitions(db, topic.topic_id, range(partitions))
                await self._notify(db, [change])
        except asyncpg.UniqueViolationError as exc:  # another broker created it meanwhile
            raise TopicExistsError(name) from exc
        self._changes.publish([change])
        return topic

    async def get_topic(self, name: str) -> TopicInfo | None:
        async with self._read() as db:
            row = await self._topic_row(db, name)
        return None if row is None else _topic(row)

    async def get_topic_by_id(self, topic_id: UUID) -> TopicInfo | None:
        async with self._read() as db:
            row = await db.fetchrow(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE topic_id = $1", topic_id)
        return None if row is None else _topic(row)

    async def list_topics(self) -> list[TopicInfo]:
        async with self._read() as db:
            rows = await db.fetch(f'SELECT {_TOPIC_COLUMNS} FROM topics ORDER BY name COLLATE "C"')
        return [_topic(row) for row in rows]

    async def delete_topic(self, name: str) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name, lock=True))
            for table in (
                "batch_index",
                "producer_state",
                "open_transactions",
                "aborted_transactions",
                "partitions",
                "topics",
            ):
                await db.execute(f"DELETE FROM {table} WHERE topic_id = $1", topic.topic_id)
            await db.execute("DELETE FROM committed_offsets WHERE topic = $1", name)
            change = TopicChange(topic.topic_id, name, local=True)
            await self._notify(db, [change])
        self._changes.publish([change])
        return topic

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name, lock=True))
            if count <= topic.partitions:
                raise InvalidPartitionsError(
                    f"topic {name!r} has {topic.partitions} partitions; {count} does not grow it"
                )
            await db.execute("UPDATE topics SET partitions = $1 WHERE topic_id = $2", count, topic.topic_id)
            await self._insert_partitions(db, topic.topic_id, range(topic.partitions, count))
            change = TopicChange(topic.topic_id, name, local=True)
            await self._notify(db, [change])
        self._changes.publish([change])
        return TopicInfo(topic.topic_id, topic.name, count, topic.configs)

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        async with self._transaction() as db:
            topic = _topic(await self._existing_topic_row(db, name, lock=True))
            await db.execute(
                "UPDATE topics SET configs = $1::jsonb WHERE topic_id = $2",
                json.dumps(dict(configs), sort_keys=True),
                topic.topic_id,
            )
            change = TopicChange(topic.topic_id, name, local=True)
            await self._notify(db, [change])
        self._changes.publish([change])
        return TopicInfo(topic.topic_id, topic.name, topic.partitions, dict(configs))

    async def _topic_row(self, db: Connection, name: str, *, lock: bool = False) -> asyncpg.Record | None:
        suffix = " FOR UPDATE" if lock else ""
        return await db.fetchrow(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE name = $1{suffix}", name)

    async def _existing_topic_row(self, db: Connection, name: str, *, lock: bool = False) -> asyncpg.Record:
        row = await self._topic_row(db, name, lock=lock)
        if row is None:
            raise UnknownTopicError(name)
        return row

    async def _insert_partitions(self, db: Connection, topic_id: UUID, partitions: range) -> None:
        await db.execute(
            "INSERT INTO partitions (topic_id, partition, log_start_offset, high_watermark)"
            " SELECT $1, p, 0, 0 FROM generate_series($2::integer, $3::integer) AS p",
            topic_id,
            partitions.start,
            partitions.stop - 1,
        )

    # -- partitions and the batch index ---------------------------------------

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = $1 ORDER BY partition",
                topic_id,
            )
        return [PartitionState(*row) for row in rows]

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT partition, sum(length) FROM batch_index WHERE topic_id = $1 GROUP BY partition", topic_id
            )
        return {row[0]: int(row[1]) for row in rows}

    async def commit_flush(
        self, object_key: str, object_size: int, chunks: Sequence[ChunkAppend]
    ) -> list[AppendResult]:
        return (await self.commit_flushes([FlushCommit(object_key, object_size, chunks)]))[0]

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        async with self._transaction() as db:
            await db.executemany(_RECORD_OBJECT, [(flush.object_key, flush.object_size) for flush in flushes])
            chunks = group_chunks(flushes)
            partitions = await self._lock_partitions(db, partition_keys(chunks))
            producers = await self._producer_states(db, producer_keys(chunks, partitions))
            transactions = await self._open_transactions(db, transaction_keys(chunks, partitions))
            plan, results = plan_group(flushes, partitions, producers, transactions)
            if plan.entries:
                await db.executemany(
                    _INSERT_INDEX,
                    [_index_row(topic_id, partition, entry) for topic_id, partition, entry in plan.entries],
                )
            if plan.partitions:
                await db.executemany(
                    "UPDATE partitions SET high_watermark = $1 WHERE topic_id = $2 AND partition = $3",
                    [
                        (state.high_watermark, topic_id, partition)
                        for (topic_id, partition), state in sorted(plan.partitions.items())
                    ],
                )
            if plan.producers:
                await db.executemany(
                    "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, recent_batches)"
                    " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (topic_id, partition, producer_id) DO UPDATE"
                    " SET producer_epoch = excluded.producer_epoch, recent_batches = excluded.recent_batches",
                    [
                        (topic_id, partition, producer_id, state.epoch, state.to_json())
                        for (topic_id, partition, producer_id), state in sorted(plan.producers.items())
                    ],
                )
            await self._write_transactions(db, plan)
            changes = plan_changes(plan)
            await self._notify(db, changes)
        self._changes.publish(changes)
        return results

    async def _lock_partitions(
        self, db: Connection, keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, PartitionState]:
        """The existing partitions among `keys`, locked (FOR UPDATE) in (topic id, partition) order."""
        if not keys:
            return {}
        rows = await db.fetch(
            "SELECT p.topic_id, p.partition, p.log_start_offset, p.high_watermark"
            " FROM partitions AS p JOIN unnest($1::uuid[], $2::integer[]) AS k (topic_id, partition)"
            " ON p.topic_id = k.topic_id AND p.partition = k.partition"
            " ORDER BY p.topic_id, p.partition FOR UPDATE OF p",
            [topic_id for topic_id, _ in keys],
            [partition for _, partition in keys],
        )
        return {(_uuid(row[0]), row[1]): PartitionState(row[2], row[3]) for row in rows}

    async def _producer_states(self, db: Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, ProducerState]:
        rows = await _rows_of_producers(db, "producer_state", "t.producer_epoch, t.recent_batches", keys)
        return {(_uuid(row[0]), row[1], row[2]): ProducerState.from_json(row[3], row[4]) for row in rows}

    async def _open_transactions(self, db: Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, int]:
        rows = await _rows_of_producers(db, "open_transactions", "t.first_offset", keys)
        return {(_uuid(row[0]), row[1], row[2]): row[3] for row in rows}

    async def _write_transactions(self, db: Connection, plan: CommitPlan) -> None:
        """The open transactions a plan opened and closed, and the aborted ranges it recorded."""
        if opened := plan.opened():
            await db.executemany(
                "INSERT INTO open_transactions (topic_id, partition, producer_id, first_offset) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset",
                [(*key, first) for key, first in opened],
            )
        if closed := plan.closed():
            await db.executemany(
                "DELETE FROM open_transactions WHERE topic_id = $1 AND partition = $2 AND producer_id = $3", closed
            )
        if plan.aborted:
            await db.executemany(
                "INSERT INTO aborted_transactions (topic_id, partition, producer_id, first_offset, last_offset)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                [
                    (topic_id, partition, a.producer_id, a.first_offset, a.last_offset)
                    for topic_id, partition, a in plan.aborted
                ],
            )

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        # Entries never overlap, so the one holding from_offset is the last starting at or before
        # it; starting the range there keeps the scan on the primary key.
        async with self._read() as db:
            rows = await db.fetch(
                f"SELECT {_INDEX_COLUMNS} FROM batch_index"
                " WHERE topic_id = $1 AND partition = $2 AND last_offset >= $3"
                " AND base_offset >= coalesce((SELECT max(base_offset) FROM batch_index"
                "   WHERE topic_id = $1 AND partition = $2 AND base_offset <= $3), $3)"
                " ORDER BY base_offset LIMIT $4",
                topic_id,
                partition,
                from_offset,
                limit,
            )
        return [_entry(row) for row in rows]

    async def find_by_timestamp(self, topic_id: UUID, partition: int, timestamp: int) -> IndexEntry | None:
        async with self._read() as db:
            row = await db.fetchrow(
                f"SELECT {_INDEX_COLUMNS} FROM batch_index"
                " WHERE topic_id = $1 AND partition = $2 AND max_timestamp >= $3 ORDER BY base_offset LIMIT 1",
                topic_id,
                partition,
                timestamp,
            )
        return None if row is None else _entry(row)

    async def max_timestamp_entry(self, topic_id: UUID, partition: int) -> IndexEntry | None:
        async with self._read() as db:
            row = await db.fetchrow(
                f"SELECT {_INDEX_COLUMNS} FROM batch_index WHERE topic_id = $1 AND partition = $2"
                " ORDER BY max_timestamp DESC, base_offset LIMIT 1",
                topic_id,
                partition,
            )
        return None if row is None else _entry(row)

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        async with self._transaction() as db:
            row = await db.fetchrow(
                "SELECT log_start_offset, high_watermark FROM partitions"
                " WHERE topic_id = $1 AND partition = $2 FOR UPDATE",
                topic_id,
                partition,
            )
            if row is None:
                raise UnknownTopicError(f"no partition {partition} of topic {topic_id}")
            state = PartitionState(*row)
            if offset > state.high_watermark:
                raise OffsetOutOfRangeError(f"offset {offset} is beyond the high watermark {state.high_watermark}")
            if offset <= state.log_start_offset:
                return state
            await db.execute(
                "UPDATE partitions SET log_start_offset = $3 WHERE topic_id = $1 AND partition = $2",
                topic_id,
                partition,
                offset,
            )
            await db.execute(
                # base_offset < offset bounds the primary-key range; last_offset < offset is the rule.
                "DELETE FROM batch_index WHERE topic_id = $1 AND partition = $2"
                " AND base_offset < $3 AND last_offset < $3",
                topic_id,
                partition,
                offset,
            )
            await db.execute(
                "DELETE FROM aborted_transactions WHERE topic_id = $1 AND partition = $2 AND last_offset < $3",
                topic_id,
                partition,
                offset,
            )
            change = PartitionChange(topic_id, partition, offset, state.high_watermark, local=True)
            await self._notify(db, [change])
        self._changes.publish([change])
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
        async with self._transaction() as db:
            # The partition's lock keeps commits and log start moves out until this one ends.
            state = await db.fetchrow(
                "SELECT log_start_offset, high_watermark FROM partitions"
                " WHERE topic_id = $1 AND partition = $2 FOR UPDATE",
                topic_id,
                partition,
            )
            rows = await db.fetch(
                f"SELECT {_INDEX_COLUMNS} FROM batch_index WHERE topic_id = $1 AND partition = $2"
                " AND base_offset = ANY($3::bigint[])",
                topic_id,
                partition,
                [entry.base_offset for entry in old],
            )
            if {_entry(row) for row in rows} != set(old):
                return False
            await db.execute(
                "DELETE FROM batch_index WHERE topic_id = $1 AND partition = $2 AND base_offset = ANY($3::bigint[])",
                topic_id,
                partition,
                [entry.base_offset for entry in old],
            )
            if new:
                await db.executemany(_INSERT_INDEX, [_index_row(topic_id, partition, entry) for entry in new])
            await db.execute(_RECORD_OBJECT, object_key, object_size)
            changes = [
                PartitionChange(topic_id, partition, row[0], row[1], index_rewritten=True, local=True)
                for row in ([] if state is None else [state])
            ]
            await self._notify(db, changes)
        self._changes.publish(changes)
        return True

    # -- producers and objects ------------------------------------------------

    async def allocate_producer_id(self) -> int:
        async with self._transaction() as db:
            producer_id: int = await db.fetchval("UPDATE producer_ids SET next_id = next_id + 1 RETURNING next_id - 1")
        return producer_id

    # -- transactions -----------------------------------------------------------

    async def get_transaction(self, transactional_id: str) -> TransactionRecord | None:
        async with self._read() as db:
            row = await db.fetchrow(
                f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE transactional_id = $1", transactional_id
            )
        return None if row is None else transaction_record(row)

    async def list_transactions(self) -> list[TransactionRecord]:
        async with self._read() as db:
            rows = await db.fetch(
                f'SELECT {TRANSACTION_COLUMNS} FROM transactions ORDER BY transactional_id COLLATE "C"'
            )
        return [transaction_record(row) for row in rows]

    async def save_transaction(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> bool:
        async with self._transaction() as db:
            status = await db.execute(
                f"INSERT INTO transactions ({TRANSACTION_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12)"
                " ON CONFLICT (transactional_id) DO UPDATE SET producer_id = excluded.producer_id,"
                " producer_epoch = excluded.producer_epoch, state = excluded.state, timeout_ms = excluded.timeout_ms,"
                " started_ms = excluded.started_ms, updated_ms = excluded.updated_ms, partitions = excluded.partitions,"
                " groups = excluded.groups, pending_offsets = excluded.pending_offsets,"
                " last_epoch = excluded.last_epoch, version = excluded.version"
                " WHERE transactions.version = excluded.version - 1",
                *transaction_row(record),
            )
            if status != "INSERT 0 1":
                return False
            if offsets:
                await db.executemany(_COMMIT_OFFSET, [_offset_row(group, o) for group, o in offsets])
        return True

    async def partition_transactions(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        queries = [query.format(topic="$1", partition="$2") for query in _TRANSACTION_QUERIES]
        async with self._read() as db:
            opened, aborted = [await db.fetch(query, topic_id, partition) for query in queries]
        return partition_transactions(opened, aborted)

    async def unreferenced_objects(self) -> list[str]:
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT object_key FROM objects AS o"
                " WHERE NOT EXISTS (SELECT 1 FROM batch_index AS b WHERE b.object_key = o.object_key)"
                ' ORDER BY object_key COLLATE "C"'
            )
        return [row[0] for row in rows]

    async def forget_objects(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        async with self._transaction() as db:
            await db.execute("DELETE FROM objects WHERE object_key = ANY($1::text[])", list(keys))

    async def known_objects(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        async with self._read() as db:
            rows = await db.fetch("SELECT object_key FROM objects WHERE object_key = ANY($1::text[])", list(keys))
        return {row[0] for row in rows}

    # -- consumer groups -------------------------------------------------------

    async def save_group(self, group: GroupRecord) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO consumer_groups ({_GROUP_COLUMNS}, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, {_NOW_MS})"
                " ON CONFLICT (group_id) DO UPDATE SET protocol_type = excluded.protocol_type,"
                " generation_id = excluded.generation_id, protocol_name = excluded.protocol_name,"
                " leader_id = excluded.leader_id, state = excluded.state, updated_ms = excluded.updated_ms",
                group.group_id,
                group.protocol_type,
                group.generation_id,
                group.protocol_name,
                group.leader_id,
                group.state,
            )

    async def list_groups(self) -> list[GroupRecord]:
        async with self._read() as db:
            rows = await db.fetch(f'SELECT {_GROUP_COLUMNS} FROM consumer_groups ORDER BY group_id COLLATE "C"')
        return [GroupRecord(*row) for row in rows]

    async def delete_group(self, group_id: str) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM committed_offsets WHERE group_id = $1", group_id)
            await db.execute("DELETE FROM consumer_groups WHERE group_id = $1", group_id)

    async def commit_offsets(self, group_id: str, offsets: Sequence[CommittedOffset]) -> None:
        if not offsets:
            return
        async with self._transaction() as db:
            await db.executemany(_COMMIT_OFFSET, [_offset_row(group_id, o) for o in offsets])

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> list[CommittedOffset]:
        async with self._read() as db:
            if partitions is None:
                rows = await db.fetch(f"SELECT {_OFFSET_COLUMNS} FROM committed_offsets WHERE group_id = $1", group_id)
            else:
                wanted = sorted(set(partitions))
                rows = await db.fetch(
                    "SELECT o.topic, o.partition, o.committed_offset, o.leader_epoch, o.metadata, o.commit_ms"
                    " FROM committed_offsets AS o JOIN unnest($2::text[], $3::integer[]) AS k (topic, partition)"
                    " ON o.topic = k.topic AND o.partition = k.partition WHERE o.group_id = $1",
                    group_id,
                    [topic for topic, _ in wanted],
                    [partition for _, partition in wanted],
                )
        return sorted((CommittedOffset(*row) for row in rows), key=lambda o: (o.topic, o.partition))

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        if not partitions:
            return
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM committed_offsets AS o USING unnest($2::text[], $3::integer[]) AS k (topic, partition)"
                " WHERE o.group_id = $1 AND o.topic = k.topic AND o.partition = k.partition",
                group_id,
                [topic for topic, _ in partitions],
                [partition for _, partition in partitions],
            )


async def _rows_of_producers(
    db: Connection, table: str, columns: str, keys: Sequence[ProducerKey]
) -> list[asyncpg.Record]:
    """`columns` of `table` (as t) in the rows keyed (topic id, partition, producer id) in `keys`, each
    row led by those three. The partition locks held already serialise changes to these rows."""
    if not keys:
        return []
    return await db.fetch(
        f"SELECT t.topic_id, t.partition, t.producer_id, {columns} FROM {table} AS t"
        " JOIN unnest($1::uuid[], $2::integer[], $3::bigint[]) AS k (topic_id, partition, producer_id)"
        " ON t.topic_id = k.topic_id AND t.partition = k.partition AND t.producer_id = k.producer_id",
        [key[0] for key in keys],
        [key[1] for key in keys],
        [key[2] for key in keys],
    )
