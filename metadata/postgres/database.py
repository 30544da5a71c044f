"""The PostgreSQL database every role of the production store works on: its pool, transactions and migrations.

Every write is one transaction at READ COMMITTED. Writes that change a partition lock its row
first (SELECT ... FOR UPDATE; commits lock all they touch in (topic id, partition) order), so
brokers sharing the database serialise on each partition instead of deadlocking. Times
(heartbeats, creation times) come from the database server's clock. Migrations run at start()
under a PostgreSQL advisory lock, so brokers starting together apply each one once.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from streamhouse.metadata.base import MetadataUnavailableError, PartitionChange, TopicChange
from streamhouse.metadata.changes import ChangeFeed
from streamhouse.metadata.migrations import SCHEMA_MIGRATIONS_DDL, backend_migrations
from streamhouse.metadata.postgres.notifications import CHANGES_CHANNEL, payload

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = PoolConnectionProxy[asyncpg.Record]

# Key of the session advisory lock held while migrating ("STRH" as a 32-bit number).
MIGRATION_LOCK = 0x53545248
NOW_MS = "(extract(epoch FROM now()) * 1000)::bigint"  # the server's clock, in milliseconds
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


def plain_uuid(value: UUID) -> UUID:
    """A plain uuid.UUID (asyncpg returns its own subclass)."""
    return UUID(int=value.int)


def _closed(exc: asyncpg.InterfaceError) -> bool:
    """An InterfaceError about a closed connection or pool (others are programming errors).

    A pooled connection the server dropped is handed back to the pool at once, so later calls
    on it say it was released.
    """
    message = str(exc)
    return any(words in message for words in ("closed", "closing", "released back to the pool"))


def _where(dsn: str) -> str:
    """The DSN without its password, for messages."""
    rest = dsn.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1]


class PostgresDatabase:
    """A pool of at most `pool_size` connections to `dsn`; `changes` feeds this store's and other stores' changes."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self.dsn = dsn
        self.pool_size = pool_size
        self.where = _where(dsn)
        self.pool: asyncpg.Pool[asyncpg.Record] | None = None
        self.changes = ChangeFeed()
        self.origin = secrets.token_hex(8)  # tells this store's notifications from others'

    async def open(self) -> list[int]:
        """Make the pool and apply pending migrations; the versions applied."""
        with self.translated():
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                server_settings={"application_name": "streamhouse"},
            )
        try:
            with self.translated():
                applied = await _migrate(pool)
        except BaseException:
            pool.terminate()
            raise
        self.pool = pool
        return applied

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await pool.close()
            except BaseException:
                pool.terminate()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        pool = self._live_pool()
        with self.translated():
            async with pool.acquire() as db:
                yield db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One transaction on a pooled connection, rolled back if the body or the commit fails."""
        pool = self._live_pool()
        with self.translated():
            async with pool.acquire() as db, db.transaction():
                yield db

    async def notify(self, db: Connection, changes: Iterable[PartitionChange | TopicChange]) -> None:
        """Send the changes to every listening store when the transaction of `db` commits."""
        payloads = [(CHANGES_CHANNEL, payload(self.origin, change)) for change in changes]
        if payloads:
            await db.executemany("SELECT pg_notify($1, $2)", payloads)

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Raise MetadataUnavailableError for errors meaning the database cannot be used now."""
        try:
            yield
        except _UNAVAILABLE as exc:
            raise MetadataUnavailableError(f"metadata database {self.where}: {exc}") from exc
        except asyncpg.InterfaceError as exc:
            if _closed(exc):
                raise MetadataUnavailableError(f"metadata database {self.where}: {exc}") from exc
            raise

    def _live_pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self.pool is None:
            raise MetadataUnavailableError("the metadata store is not started")
        return self.pool


async def _migrate(pool: asyncpg.Pool[asyncpg.Record]) -> list[int]:
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
                        f"INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, {NOW_MS})",
                        migration.version,
                    )
                applied.append(migration.version)
        finally:
            await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied
