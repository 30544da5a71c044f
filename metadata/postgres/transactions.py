"""The transactions role of the production store (metadata.roles.TransactionStore)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import CommittedOffset, PartitionTransactions, TransactionRecord
from streamhouse.metadata.postgres.database import PostgresDatabase
from streamhouse.metadata.postgres.groups import COMMIT_OFFSET
from streamhouse.metadata.transactions import (
    ABORTED_TRANSACTIONS_QUERY,
    OPEN_TRANSACTIONS_QUERY,
    TRANSACTION_COLUMNS,
    partition_transactions,
    transaction_record,
    transaction_row,
)

_TRANSACTION_QUERIES = [
    query.format(topic="$1", partition="$2") for query in (OPEN_TRANSACTIONS_QUERY, ABORTED_TRANSACTIONS_QUERY)
]


class PostgresTransactions:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def allocate_producer_id(self) -> int:
        async with self._database.transaction() as db:
            producer_id: int = await db.fetchval(sql.ALLOCATE_PRODUCER_ID)
        return producer_id

    async def get_transaction(self, transactional_id: str) -> TransactionRecord | None:
        async with self._database.read() as db:
            row = await db.fetchrow(
                f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE transactional_id = $1", transactional_id
            )
        return None if row is None else transaction_record(row)

    async def list_transactions(self) -> list[TransactionRecord]:
        async with self._database.read() as db:
            rows = await db.fetch(
                f'SELECT {TRANSACTION_COLUMNS} FROM transactions ORDER BY transactional_id COLLATE "C"'
            )
        return [transaction_record(row) for row in rows]

    async def save_transaction(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> bool:
        async with self._database.transaction() as db:
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
                await db.executemany(COMMIT_OFFSET, [sql.offset_row(group, o) for group, o in offsets])
        return True

    async def delete_transaction(self, record: TransactionRecord) -> bool:
        async with self._database.transaction() as db:
            status = await db.execute(sql.numbered(sql.DELETE_TRANSACTION), record.transactional_id, record.version)
        return bool(status == "DELETE 1")

    async def partition_transactions(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        async with self._database.read() as db:
            opened, aborted = [await db.fetch(query, topic_id, partition) for query in _TRANSACTION_QUERIES]
        return partition_transactions(opened, aborted)
