"""The KIP-932 share-partition states role of the production store (metadata.roles.ShareStateStore)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import SharePartitionDocument
from streamhouse.metadata.postgres.database import PostgresDatabase


class PostgresShareStates:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def save_share_state(self, document: SharePartitionDocument) -> None:
        async with self._database.transaction() as db:
            await db.execute(
                sql.numbered(sql.SAVE_SHARE_STATE),
                document.group_id,
                str(document.topic_id),
                document.partition,
                document.state,
                int(time.time() * 1000),
            )

    async def list_share_states(self, group_id: str) -> list[SharePartitionDocument]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.numbered(sql.LIST_SHARE_STATES), group_id)
        return [SharePartitionDocument(r[0], UUID(r[1]), r[2], r[3]) for r in rows]

    async def list_share_group_ids(self) -> list[str]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.LIST_SHARE_GROUP_IDS)
        return sorted(row[0] for row in rows)

    async def delete_share_states(self, group_id: str) -> None:
        async with self._database.transaction() as db:
            await db.execute(sql.numbered(sql.DELETE_SHARE_STATES), group_id)

    async def delete_share_topic_states(self, group_id: str, topic_id: UUID) -> None:
        async with self._database.transaction() as db:
            await db.execute(sql.numbered(sql.DELETE_SHARE_TOPIC_STATES), group_id, str(topic_id))

    async def save_share_group_configs(self, group_id: str, configs: Mapping[str, str]) -> None:
        async with self._database.transaction() as db:
            await db.execute(
                sql.numbered(sql.SAVE_SHARE_GROUP_CONFIGS),
                group_id,
                json.dumps(dict(configs), sort_keys=True),
                int(time.time() * 1000),
            )

    async def share_group_configs(self, group_id: str) -> dict[str, str]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.numbered(sql.SHARE_GROUP_CONFIGS), group_id)
        return dict(json.loads(rows[0][0])) if rows else {}
