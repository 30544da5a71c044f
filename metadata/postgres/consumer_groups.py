"""The KIP-848 consumer groups role of the production store (metadata.roles.ConsumerGroupStore)."""

from __future__ import annotations

import time

from streamhouse.metadata import sql
from streamhouse.metadata.base import ConsumerGroupDocument
from streamhouse.metadata.postgres.database import PostgresDatabase


class PostgresConsumerGroups:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def save_consumer_group(self, document: ConsumerGroupDocument) -> None:
        async with self._database.transaction() as db:
            await db.execute(
                sql.numbered(sql.SAVE_CONSUMER_GROUP), document.group_id, document.state, int(time.time() * 1000)
            )

    async def list_consumer_groups(self) -> list[ConsumerGroupDocument]:
        async with self._database.read() as db:
            rows = await db.fetch('SELECT group_id, state FROM consumer_group_states ORDER BY group_id COLLATE "C"')
        return [ConsumerGroupDocument(*row) for row in rows]

    async def delete_consumer_group(self, group_id: str) -> None:
        async with self._database.transaction() as db:
            await db.execute(sql.numbered(sql.DELETE_CONSUMER_GROUP), group_id)
