"""The KIP-932 share-partition states role of the embedded store (metadata.roles.ShareStateStore)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import SharePartitionDocument
from streamhouse.metadata.sqlite.database import SqliteDatabase, now_ms


class SqliteShareStates:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def save_share_state(self, document: SharePartitionDocument) -> None:
        row = (document.group_id, str(document.topic_id), document.partition, document.state, now_ms())
        await self._database.transaction(lambda connection: connection.execute(sql.SAVE_SHARE_STATE, row))

    async def list_share_states(self, group_id: str) -> list[SharePartitionDocument]:
        rows = await self._database.fetch(sql.LIST_SHARE_STATES, (group_id,))
        return [
            SharePartitionDocument(group, UUID(topic_id), partition, state)
            for group, topic_id, partition, state in rows
        ]

    async def list_share_group_ids(self) -> list[str]:
        return [row[0] for row in await self._database.fetch(sql.LIST_SHARE_GROUP_IDS)]

    async def delete_share_states(self, group_id: str) -> None:
        await self._database.transaction(lambda connection: connection.execute(sql.DELETE_SHARE_STATES, (group_id,)))

    async def delete_share_topic_states(self, group_id: str, topic_id: UUID) -> None:
        row = (group_id, str(topic_id))
        await self._database.transaction(lambda connection: connection.execute(sql.DELETE_SHARE_TOPIC_STATES, row))

    async def save_share_group_configs(self, group_id: str, configs: Mapping[str, str]) -> None:
        row = (group_id, json.dumps(dict(configs), sort_keys=True), now_ms())
        await self._database.transaction(lambda connection: connection.execute(sql.SAVE_SHARE_GROUP_CONFIGS, row))

    async def share_group_configs(self, group_id: str) -> dict[str, str]:
        rows = await self._database.fetch(sql.SHARE_GROUP_CONFIGS, (group_id,))
        return dict(json.loads(rows[0][0])) if rows else {}
