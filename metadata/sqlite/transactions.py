"""The transactions role of the embedded store (metadata.roles.TransactionStore)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import CommittedOffset, PartitionTransactions, TransactionRecord
from streamhouse.metadata.sqlite.database import SqliteDatabase
from streamhouse.metadata.transactions import (
    ABORTED_TRANSACTIONS_QUERY,
    OPEN_TRANSACTIONS_QUERY,
    TRANSACTION_COLUMNS,
    partition_transactions,
    transaction_record,
    transaction_row,
)

_TRANSACTION_QUERIES = [
    query.format(topic="?", partition="?") for query in (OPEN_TRANSACTIONS_QUERY, ABORTED_TRANSACTIONS_QUERY)
]


class SqliteTransactions:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def allocate_producer_id(self) -> int:
        rows = await self._database.transaction(
            lambda connection: connection.execute(sql.ALLOCATE_PRODUCER_ID).fetchall()
        )
        producer_id: int = rows[0][0]
        return producer_id

    async def get_transaction(self, transactional_id: str) -> TransactionRecord | None:
        rows = await self._database.fetch(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE transactional_id = ?", (transactional_id,)
        )
        return transaction_record(rows[0]) if rows else None

    async def list_transactions(self) -> list[TransactionRecord]:
        rows = await self._database.fetch(f"SELECT {TRANSACTION_COLUMNS} FROM transactions ORDER BY transactional_id")
        return [transaction_record(row) for row in rows]

    async def save_transaction(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> bool:
        def save(connection: sqlite3.Connection) -> bool:
            rows = connection.execute(
                "SELECT version FROM transactions WHERE transactional_id = ?", (record.transactional_id,)
            ).fetchall()
            if (rows[0][0] if rows else 0) != record.version - 1:
                return False
            connection.execute(
                f"INSERT OR REPLACE INTO transactions ({TRANSACTION_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                transaction_row(record),
            )
            connection.executemany(sql.COMMIT_OFFSET, [sql.offset_row(group, o) for group, o in offsets])
            return True

        return await self._database.transaction(save)

    async def delete_transaction(self, record: TransactionRecord) -> bool:
        def delete(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(sql.DELETE_TRANSACTION, (record.transactional_id, record.version))
            return cursor.rowcount == 1

        return await self._database.transaction(delete)

    async def partition_transactions(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        key = (topic_id.hex, partition)
        opened, aborted = await self._database.run(
            lambda connection: [connection.execute(query, key).fetchall() for query in _TRANSACTION_QUERIES]
        )
        return partition_transactions(opened, aborted)
