"""The SQLite database every role of the embedded store works on: its connection, transactions and migrations."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from streamhouse.metadata.base import MetadataUnavailableError
from streamhouse.metadata.changes import ChangeFeed
from streamhouse.metadata.migrations import SCHEMA_MIGRATIONS_DDL, Migration, backend_migrations
from streamhouse.metadata.sqlite.thread import SqliteThread

T = TypeVar("T")
Row = Any  # a sqlite3 row: a tuple of column values

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
KEYS_PER_QUERY = 300


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """`items` in slices of at most KEYS_PER_QUERY."""
    for start in range(0, len(items), KEYS_PER_QUERY):
        yield items[start : start + KEYS_PER_QUERY]


def values(keys: int, width: int) -> str:
    """`keys` rows of `width` parameters, for a `(VALUES ...)` look-up."""
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * keys)


def execute_rows(connection: sqlite3.Connection, statement: str, rows: Sequence[Sequence[object]]) -> None:
    """executemany, unless there are no rows (each statement hands the GIL over and back)."""
    if rows:
        connection.executemany(statement, rows)


def in_transaction(connection: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    """`body` within one BEGIN IMMEDIATE ... COMMIT, rolled back if it or the commit fails."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = body(connection)
        connection.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    return result


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


class SqliteDatabase:
    """One SQLite file (WAL, synchronous=FULL) or ":memory:", on one connection with a thread of its own.

    Every call is one function run on that thread; every write is one BEGIN IMMEDIATE transaction,
    so several processes sharing the file serialise on SQLite's write lock (waiting up to
    `busy_timeout_ms` for it). `changes` is the in-process change feed of the roles' commits.
    """

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.changes = ChangeFeed()
        self._thread: SqliteThread | None = None

    async def open(self) -> list[int]:
        """Connect and apply pending migrations; the versions applied."""
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            thread = await SqliteThread.connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise MetadataUnavailableError(f"cannot open {self.path}: {exc}") from exc
        self._thread = thread
        try:
            with self.translated():
                await thread.run(self._configure)
            return [migration.version for migration in backend_migrations("sqlite") if await self._apply(migration)]
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):  # e.g. "file is not a database": this file cannot be used
                raise MetadataUnavailableError(f"cannot use {self.path}: {exc}") from exc
            raise

    @property
    def opened(self) -> bool:
        return self._thread is not None

    async def close(self) -> None:
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await thread.close()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the connection's thread, outside any transaction unless `work` begins one."""
        thread = self._live()
        with self.translated():
            return await thread.run(work)

    async def transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """`body(connection)` in one transaction on the connection's thread, one hand-over for all of it."""
        return await self.run(lambda connection: in_transaction(connection, body))

    async def fetch(self, query: str, parameters: Sequence[object] | dict[str, object] = ()) -> list[Row]:
        """The rows of one query."""
        return await self.run(lambda connection: connection.execute(query, parameters).fetchall())

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Raise MetadataUnavailableError for SQLite errors meaning the database cannot be used now."""
        try:
            yield
        except sqlite3.Error as exc:
            if _unavailable(exc):
                raise MetadataUnavailableError(f"metadata database {self.path}: {exc}") from exc
            raise

    def _live(self) -> SqliteThread:
        if self._thread is None:
            raise MetadataUnavailableError("the metadata store is not started")
        return self._thread

    def _configure(self, connection: sqlite3.Connection) -> None:
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        connection.execute("PRAGMA journal_mode = WAL")
        # NORMAL may lose the last commits on power loss; produce acks promise durability.
        connection.execute("PRAGMA synchronous = FULL")
        in_transaction(connection, lambda c: c.execute(SCHEMA_MIGRATIONS_DDL))

    async def _apply(self, migration: Migration) -> bool:
        """Apply one migration unless it was; whether this call applied it."""

        def apply(connection: sqlite3.Connection) -> bool:
            # Checked inside the transaction: another process may have applied it meanwhile.
            done = connection.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,))
            if done.fetchall():
                return False
            for statement in _statements(migration.sql):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)", (migration.version, now_ms())
            )
            return True

        return await self.transaction(apply)
