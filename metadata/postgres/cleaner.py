"""The log cleaner's role of the production store (metadata.roles.CleanerStore)."""

from __future__ import annotations

from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import CleanerCheckpoint
from streamhouse.metadata.postgres.database import PostgresDatabase

_ACQUIRE = sql.numbered(sql.ACQUIRE_CLEANER_LEASE)
_SAVE = sql.numbered(sql.SAVE_CLEANER_CHECKPOINT)


class PostgresCleaner:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def acquire_cleaner_lease(
        self, topic_id: UUID, partition: int, holder: int, now_ms: int, lease_ms: int
    ) -> CleanerCheckpoint | None:
        async with self._database.transaction() as db:
            row = await db.fetchrow(_ACQUIRE, topic_id, partition, holder, now_ms + lease_ms, now_ms)
        return None if row is None else sql.cleaner_checkpoint_from(tuple(row))

    async def save_cleaner_checkpoint(
        self, topic_id: UUID, partition: int, holder: int, checkpoint: CleanerCheckpoint
    ) -> bool:
        async with self._database.transaction() as db:
            status = await db.execute(_SAVE, *sql.cleaner_checkpoint_row(checkpoint), topic_id, partition, holder)
        return status == "UPDATE 1"
