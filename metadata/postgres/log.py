"""The log role of the production store (metadata.roles.LogStore): the batch index and the sequencer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

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
from streamhouse.metadata.postgres.database import NOW_MS, PostgresDatabase, plain_uuid
from streamhouse.metadata.producers import ProducerState

if TYPE_CHECKING:
    from streamhouse.metadata.postgres.database import Connection

_RECORD_OBJECT = f"INSERT INTO objects (object_key, size, created_ms) VALUES ($1, $2, {NOW_MS}) ON CONFLICT DO NOTHING"
_LOCK_PARTITION = sql.numbered(sql.PARTITION_STATE) + " FOR UPDATE"
_INSERT_INDEX = sql.numbered(sql.INSERT_INDEX)


def _entry(row: asyncpg.Record) -> IndexEntry:
    return IndexEntry(*row)


class PostgresLog:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.numbered(sql.PARTITION_STATES), topic_id)
        return [PartitionState(*row) for row in rows]

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.numbered(sql.PARTITION_SIZES), topic_id)
        return {row[0]: int(row[1]) for row in rows}

    async def commit_flush(
        self, object_key: str, object_size: int, chunks: Sequence[ChunkAppend]
    ) -> list[AppendResult]:
        return (await self.commit_flushes([FlushCommit(object_key, object_size, chunks)]))[0]

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        async with self._database.transaction() as db:
            await db.executemany(_RECORD_OBJECT, [(flush.object_key, flush.object_size) for flush in flushes])
            chunks = group_chunks(flushes)
            partitions = await _lock_partitions(db, partition_keys(chunks))
            producers = await _producer_states(db, producer_keys(chunks, partitions))
            transactions = await _open_transactions(db, transaction_keys(chunks, partitions))
            plan, results = plan_group(flushes, partitions, producers, transactions)
            await _write_plan(db, plan)
            changes = plan_changes(plan)
            await self._database.notify(db, changes)
        self._database.changes.publish(changes)
        return results

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        async with self._database.read() as db:
            rows = await db.fetch(
                sql.numbered(sql.FIND_INDEX), *sql.find_index_arguments(topic_id, partition, from_offset, limit)
            )
        return [_entry(row) for row in rows]

    async def find_by_timestamp(self, topic_id: UUID, partition: int, timestamp: int) -> IndexEntry | None:
        async with self._database.read() as db:
            row = await db.fetchrow(sql.numbered(sql.FIND_BY_TIMESTAMP), topic_id, partition, timestamp)
        return None if row is None else _entry(row)

    async def max_timestamp_entry(self, topic_id: UUID, partition: int) -> IndexEntry | None:
        async with self._database.read() as db:
            row = await db.fetchrow(
                f"SELECT {sql.INDEX_COLUMNS} FROM batch_index WHERE topic_id = $1 AND partition = $2"
                " ORDER BY max_timestamp DESC, base_offset LIMIT 1",
                topic_id,
                partition,
            )
        return None if row is None else _entry(row)

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        async with self._database.transaction() as db:
            row = await db.fetchrow(_LOCK_PARTITION, topic_id, partition)
            if row is None:
                raise UnknownTopicError(f"no partition {partition} of topic {topic_id}")
            state = PartitionState(*row)
            if offset > state.high_watermark:
                raise OffsetOutOfRangeError(f"offset {offset} is beyond the high watermark {state.high_watermark}")
            if offset <= state.log_start_offset:
                return state
            await db.execute(sql.numbered(sql.SET_LOG_START), offset, topic_id, partition)
            await db.execute(sql.numbered(sql.DROP_INDEX_BELOW), topic_id, partition, offset, offset)
            await db.execute(sql.numbered(sql.DROP_ABORTED_BELOW), topic_id, partition, offset)
            change = PartitionChange(topic_id, partition, offset, state.high_watermark, local=True)
            await self._database.notify(db, [change])
        self._database.changes.publish([change])
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
        async with self._database.transaction() as db:
            # The partition's lock keeps commits and log start moves out until this one ends.
            state = await db.fetchrow(_LOCK_PARTITION, topic_id, partition)
            rows = await db.fetch(
                f"SELECT {sql.INDEX_COLUMNS} FROM batch_index WHERE topic_id = $1 AND partition = $2"
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
                await db.executemany(_INSERT_INDEX, [sql.index_row(topic_id, partition, entry) for entry in new])
            await db.execute(_RECORD_OBJECT, object_key, object_size)
            changes = [
                PartitionChange(topic_id, partition, row[0], row[1], index_rewritten=True, cleaned=cleaned, local=True)
                for row in ([] if state is None else [state])
            ]
            await self._database.notify(db, changes)
        self._database.changes.publish(changes)
        return True

    async def unreferenced_objects(self) -> list[str]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.UNREFERENCED_OBJECTS + ' ORDER BY object_key COLLATE "C"')
        return [row[0] for row in rows]

    async def forget_objects(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        async with self._database.transaction() as db:
            await db.execute("DELETE FROM objects WHERE object_key = ANY($1::text[])", list(keys))

    async def known_objects(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        async with self._database.read() as db:
            rows = await db.fetch("SELECT object_key FROM objects WHERE object_key = ANY($1::text[])", list(keys))
        return {row[0] for row in rows}


async def _write_plan(db: Connection, plan: CommitPlan) -> None:
    """Write what a commit plan changed: index entries, high watermarks, producers, transactions."""
    if plan.entries:
        await db.executemany(
            _INSERT_INDEX, [sql.index_row(topic_id, partition, entry) for topic_id, partition, entry in plan.entries]
        )
    if plan.partitions:
        await db.executemany(
            sql.numbered(sql.SET_HIGH_WATERMARK),
            [
                (state.high_watermark, topic_id, partition)
                for (topic_id, partition), state in sorted(plan.partitions.items())
            ],
        )
    if plan.producers:
        await db.executemany(
            sql.numbered(sql.SAVE_PRODUCER_STATE),
            [
                (topic_id, partition, producer_id, state.epoch, state.to_json())
                for (topic_id, partition, producer_id), state in sorted(plan.producers.items())
            ],
        )
    if opened := plan.opened():
        await db.executemany(sql.numbered(sql.OPEN_TRANSACTION), [(*key, first) for key, first in opened])
    if closed := plan.closed():
        await db.executemany(sql.numbered(sql.CLOSE_TRANSACTION), closed)
    if plan.aborted:
        await db.executemany(
            sql.numbered(sql.RECORD_ABORTED),
            [
                (topic_id, partition, a.producer_id, a.first_offset, a.last_offset)
                for topic_id, partition, a in plan.aborted
            ],
        )


async def _lock_partitions(db: Connection, keys: Sequence[PartitionKey]) -> dict[PartitionKey, PartitionState]:
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
    return {(plain_uuid(row[0]), row[1]): PartitionState(row[2], row[3]) for row in rows}


async def _producer_states(db: Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, ProducerState]:
    rows = await _rows_of_producers(db, "producer_state", "t.producer_epoch, t.recent_batches", keys)
    return {(plain_uuid(row[0]), row[1], row[2]): ProducerState.from_json(row[3], row[4]) for row in rows}


async def _open_transactions(db: Connection, keys: Sequence[ProducerKey]) -> dict[ProducerKey, int]:
    rows = await _rows_of_producers(db, "open_transactions", "t.first_offset", keys)
    return {(plain_uuid(row[0]), row[1], row[2]): row[3] for row in rows}


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
