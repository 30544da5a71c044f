"""The log cleaner's role of the embedded store (metadata.roles.CleanerStore)."""

from __future__ import annotations

from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import CleanerCheckpoint
from streamhouse.metadata.sqlite.database import SqliteDatabase


class SqliteCleaner:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def acquire_cleaner_lease(
        self, topic_id: UUID, partition: int, holder: int, now_ms: int, lease_ms: int
    ) -> CleanerCheckpoint | None:
        parameters = (topic_id.hex, partition, holder, now_ms + lease_ms, now_ms)
        rows = await self._database.transaction(
            lambda connection: connection.execute(sql.ACQUIRE_CLEANER_LEASE, parameters).fetchall()
        )
        return sql.cleaner_checkpoint_from(rows[0]) if rows else None

    async def save_cleaner_checkpoint(
        self, topic_id: UUID, partition: int, holder: int, checkpoint: CleanerCheckpoint
    ) -> bool:
        parameters = (*sql.cleaner_checkpoint_row(checkpoint), topic_id.hex, partition, holder)
        changed: int = await self._database.transaction(
            lambda connection: connection.execute(sql.SAVE_CLEANER_CHECKPOINT, parameters).rowcount
        )
        return changed == 1
