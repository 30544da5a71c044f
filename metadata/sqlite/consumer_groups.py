"""The KIP-848 consumer groups role of the embedded store (metadata.roles.ConsumerGroupStore)."""

from __future__ import annotations

from streamhouse.metadata import sql
from streamhouse.metadata.base import ConsumerGroupDocument
from streamhouse.metadata.sqlite.database import SqliteDatabase, now_ms


class SqliteConsumerGroups:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def save_consumer_group(self, document: ConsumerGroupDocument) -> None:
        row = (document.group_id, document.state, now_ms())
        await self._database.transaction(lambda connection: connection.execute(sql.SAVE_CONSUMER_GROUP, row))

    async def list_consumer_groups(self) -> list[ConsumerGroupDocument]:
        rows = await self._database.fetch("SELECT group_id, state FROM consumer_group_states ORDER BY group_id")
        return [ConsumerGroupDocument(*row) for row in rows]

    async def delete_consumer_group(self, group_id: str) -> None:
        await self._database.transaction(lambda connection: connection.execute(sql.DELETE_CONSUMER_GROUP, (group_id,)))
