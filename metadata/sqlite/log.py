"""The log role of the embedded store (metadata.roles.LogStore): the batch index and the sequencer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import (
    AppendResult,
    ChunkAppend,
    FlushCommit,
    IndexEntry,
    OffsetOutOfRangeError,
    PartitionChange,
    PartitionState,
    UnknownTopicError,
)
from streamhouse.metadata.commit import (
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
from streamhouse.metadata.producers import ProducerState
from streamhouse.metadata.sqlite.database import (
    Row,
    SqliteDatabase,
    batches,
    execute_rows,
    in_transaction,
    now_ms,
    values,
)
from streamhouse.tracing import TRACE

_RECORD_OBJECT = "INSERT OR IGNORE INTO objects (object_key, size, created_ms) VALUES (?, ?, ?)"


def _entry(row: Row) -> IndexEntry:
    return IndexEntry(*row)


def _nothing() -> None:
    """commit_flushes's write: none."""


class SqliteLog:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        rows = await self._database.fetch(sql.PARTITION_STATES, (topic_id.hex,))
        return [PartitionState(*row) for row in rows]

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        rows = await self._database.fetch(sql.PARTITION_SIZES, (topic_id.hex,))
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
        """Call `write` (blocking) on the store's thread, then commit as commit_flushes does, in one hand-over.

        If `write` raises, nothing is committed and its exception propagates unchanged.
        """
        return await self._write_then_commit(write, flushes)

    async def _write_then_commit(
        self, write: Callable[[], object], flushes: Sequence[FlushCommit]
    ) -> list[list[AppendResult]]:
        """The write and the whole transaction in one call on the connection's thread: one hand-over each
        way instead of one per step, on the produce path's hottest call."""

        def write_then_commit(connection: sqlite3.Connection) -> tuple[CommitPlan, list[list[AppendResult]]]:
            write()
            TRACE.event("commit thread", flushes)
            committed = in_transaction(connection, lambda c: _commit_flushes(c, flushes))
            TRACE.event("commit thread done", flushes)
            return committed

        plan, results = await self._database.run(write_then_commit)
        self._database.changes.publish(plan_changes(plan))
        return results

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        arguments = sql.find_index_arguments(topic_id.hex, partition, from_offset, limit)
        return [_entry(row) for row in await self._database.fetch(sql.FIND_INDEX, arguments)]

    async def find_by_timestamp(self, topic_id: UUID, partition: int, timestamp: int) -> IndexEntry | None:
        rows = await self._database.fetch(sql.FIND_BY_TIMESTAMP, (topic_id.hex, partition, timestamp))
        return _entry(rows[0]) if rows else None

    async def max_timestamp_entry(self, topic_id: UUID, partition: int) -> IndexEntry | None:
        rows = await self._database.fetch(
            f"SELECT {sql.INDEX_COLUMNS} FROM batch_index WHERE topic_id = :topic AND partition = :partition"
            " AND max_timestamp = (SELECT max(max_timestamp) FROM batch_index"
            "   WHERE topic_id = :topic AND partition = :partition)"
            " ORDER BY base_offset LIMIT 1",
            {"topic": topic_id.hex, "partition": partition},
        )
        return _entry(rows[0]) if rows else None

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        key = (topic_id.hex, partition)

        def move(connection: sqlite3.Connection) -> PartitionState:
            row = connection.execute(sql.PARTITION_STATE, key).fetchone()
            if row is None:
                raise UnknownTopicError(f"no partition {partition} of topic {topic_id}")
            state = PartitionState(*row)
            if offset > state.high_watermark:
                raise OffsetOutOfRangeError(f"offset {offset} is beyond the high watermark {state.high_watermark}")
            if offset > state.log_start_offset:
                connection.execute(sql.SET_LOG_START, (offset, *key))
                connection.execute(sql.DROP_INDEX_BELOW, (*key, offset, offset))
                connection.execute(sql.DROP_ABORTED_BELOW, (*key, offset))
            return state

        state = await self._database.transaction(move)
        if offset <= state.log_start_offset:
            return state
        self._database.changes.publish([PartitionChange(topic_id, partition, offset, state.high_watermark, local=True)])
        return PartitionState(offset, state.high_watermark)

    async def replace_index(
        self,
        topic_id: UUID,
        partition: int,
        old: Sequence[IndexEntry],
        new: Sequence[IndexEntry],
        object_key: str,
        object_size: int,
        cleaned: bool = False,
    ) -> bool:
        check_replacement(old, new, cleaned)
        key = (topic_id.hex, partition)

        def replace(connection: sqlite3.Connection) -> list[Row] | None:
            for batch in batches(old):
                rows = connection.execute(
                    f"SELECT {sql.INDEX_COLUMNS} FROM batch_index WHERE topic_id = ? AND partition = ?"
                    f" AND base_offset IN ({', '.join('?' * len(batch))})",
                    (*key, *(entry.base_offset for entry in batch)),
                )
                if {_entry(row) for row in rows} != set(batch):
                    return None
            connection.executemany(
                "DELETE FROM batch_index WHERE topic_id = ? AND partition = ? AND base_offset = ?",
                [(*key, entry.base_offset) for entry in old],
            )
            connection.executemany(sql.INSERT_INDEX, [sql.index_row(key[0], partition, entry) for entry in new])
            connection.execute(_RECORD_OBJECT, (object_key, object_size, now_ms()))
            return connection.execute(sql.PARTITION_STATE, key).fetchall()

        states = await self._database.transaction(replace)
        if states is None:
            return False
        self._database.changes.publish(
            PartitionChange(topic_id, partition, row[0], row[1], index_rewritten=True, cleaned=cleaned, local=True)
            for row in states
        )
        return True

    async def unreferenced_objects(self) -> list[str]:
        rows = await self._database.fetch(sql.UNREFERENCED_OBJECTS + " ORDER BY object_key")
        return [row[0] for row in rows]

    async def forget_objects(self, keys: Sequence[str]) -> None:
        rows = [(key,) for key in keys]
        await self._database.transaction(
            lambda connection: connection.executemany("DELETE FROM objects WHERE object_key = ?", rows)
        )

    async def known_objects(self, keys: Sequence[str]) -> set[str]:
        def known(connection: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for batch in batches(keys):
                marks = ", ".join("?" * len(batch))
                rows = connection.execute(f"SELECT object_key FROM objects WHERE object_key IN ({marks})", batch)
                found.update(row[0] for row in rows)
            return found

        return await self._database.run(known)


def _commit_flushes(
    connection: sqlite3.Connection, flushes: Sequence[FlushCommit]
) -> tuple[CommitPlan, list[list[AppendResult]]]:
    """The transaction body of SqliteLog.commit_flushes."""
    now = now_ms()
    connection.executemany(_RECORD_OBJECT, [(flush.object_key, flush.object_size, now) for flush in flushes])
    chunks = group_chunks(flushes)
    partitions = _partition_states(connection, partition_keys(chunks))
    producers = _producer_states(connection, producer_keys(chunks, partitions))
    transactions = _open_transactions(connection, transaction_keys(chunks, partitions))
    plan, results = plan_group(flushes, partitions, producers, transactions)
    execute_rows(
        connection,
        sql.INSERT_INDEX,
        [sql.index_row(topic_id.hex, partition, e) for topic_id, partition, e in plan.entries],
    )
    execute_rows(
        connection,
        sql.SET_HIGH_WATERMARK,
        [
            (state.high_watermark, topic_id.hex, partition)
            for (topic_id, partition), state in sorted(plan.partitions.items())
        ],
    )
    execute_rows(
        connection,
        sql.SAVE_PRODUCER_STATE,
        [
            (topic_id.hex, partition, producer_id, state.epoch, state.to_json())
            for (topic_id, partition, producer_id), state in sorted(plan.producers.items())
        ],
    )
    execute_rows(
        connection,
        sql.OPEN_TRANSACTION,
        [(topic_id.hex, partition, producer_id, first) for (topic_id, partition, producer_id), first in plan.opened()],
    )
    execute_rows(
        connection,
        sql.CLOSE_TRANSACTION,
        [(topic_id.hex, partition, producer_id) for topic_id, partition, producer_id in plan.closed()],
    )
    execute_rows(
        connection,
        sql.RECORD_ABORTED,
        [
            (topic_id.hex, partition, a.producer_id, a.first_offset, a.last_offset)
            for topic_id, partition, a in plan.aborted
        ],
    )
    TRACE.event("commit statement", flushes)  # what follows is in_transaction's COMMIT
    return plan, results


def _partition_states(
    connection: sqlite3.Connection, keys: Sequence[PartitionKey]
) -> dict[PartitionKey, PartitionState]:
    """The existing partitions among `keys`, read in key order (PostgreSQL: SELECT ... FOR UPDATE)."""
    rows = _keyed_rows(
        connection,
        "SELECT p.topic_id, p.partition, p.log_start_offset, p.high_watermark"
        " FROM (VALUES {keys}) AS k JOIN partitions AS p"
        " ON p.topic_id = k.column1 AND p.partition = k.column2 ORDER BY p.topic_id, p.partition",
        keys,
    )
    return {(row[0], row[1]): PartitionState(row[2], row[3]) for row in rows}


def _producer_states(connection: sqlite3.Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, ProducerState]:
    rows = _keyed_rows(
        connection,
        "SELECT s.topic_id, s.partition, s.producer_id, s.producer_epoch, s.recent_batches"
        " FROM (VALUES {keys}) AS k JOIN producer_state AS s"
        " ON s.topic_id = k.column1 AND s.partition = k.column2 AND s.producer_id = k.column3"
        " ORDER BY s.topic_id, s.partition, s.producer_id",
        keys,
    )
    return {(row[0], row[1], row[2]): ProducerState.from_json(row[3], row[4]) for row in rows}


def _open_transactions(connection: sqlite3.Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, int]:
    rows = _keyed_rows(
        connection,
        "SELECT t.topic_id, t.partition, t.producer_id, t.first_offset"
        " FROM (VALUES {keys}) AS k JOIN open_transactions AS t"
        " ON t.topic_id = k.column1 AND t.partition = k.column2 AND t.producer_id = k.column3",
        keys,
    )
    return {(row[0], row[1], row[2]): row[3] for row in rows}


def _keyed_rows(
    connection: sqlite3.Connection, query: str, keys: Sequence[tuple[UUID, *tuple[int, ...]]]
) -> Iterator[Row]:
    """The rows of `query` joined to `keys` (a topic id, then integers) put at its {keys}, a batch at a time.

    Each row's first column, the topic id, comes back as the keys' own UUID: parsing one from its hex
    costs microseconds, and a commit reads a row per partition it appends to.
    """
    hexes = {topic_id: topic_id.hex for topic_id in {key[0] for key in keys}}
    topic_ids = {hex_id: topic_id for topic_id, hex_id in hexes.items()}
    for batch in batches(keys):
        arguments = [v for key in batch for v in (hexes[key[0]], *key[1:])]
        for row in connection.execute(query.format(keys=values(len(batch), len(batch[0]))), arguments):
            yield (topic_ids[row[0]], *row[1:])
