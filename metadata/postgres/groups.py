"""The groups role of the production store (metadata.roles.GroupStore)."""

from __future__ import annotations

from collections.abc import Sequence

from streamhouse.metadata import sql
from streamhouse.metadata.base import CommittedOffset, GroupRecord
from streamhouse.metadata.postgres.database import NOW_MS, PostgresDatabase

COMMIT_OFFSET = sql.numbered(sql.COMMIT_OFFSET)


class PostgresGroups:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def save_group(self, group: GroupRecord) -> None:
        async with self._database.transaction() as db:
            await db.execute(
                f"INSERT INTO consumer_groups ({sql.GROUP_COLUMNS}, updated_ms)"
                f" VALUES ($1, $2, $3, $4, $5, $6, {NOW_MS})"
                " ON CONFLICT (group_id) DO UPDATE SET protocol_type = excluded.protocol_type,"
                " generation_id = excluded.generation_id, protocol_name = excluded.protocol_name,"
                " leader_id = excluded.leader_id, state = excluded.state, updated_ms = excluded.updated_ms",
                *sql.group_row(group),
            )

    async def list_groups(self) -> list[GroupRecord]:
        async with self._database.read() as db:
            rows = await db.fetch(f'SELECT {sql.GROUP_COLUMNS} FROM consumer_groups ORDER BY group_id COLLATE "C"')
        return [GroupRecord(*row) for row in rows]

    async def delete_group(self, group_id: str) -> None:
        async with self._database.transaction() as db:
            for statement in sql.DELETE_GROUP:
                await db.execute(sql.numbered(statement), group_id)

    async def commit_offsets(self, group_id: str, offsets: Sequence[CommittedOffset]) -> None:
        if not offsets:
            return
        async with self._database.transaction() as db:
            await db.executemany(COMMIT_OFFSET, [sql.offset_row(group_id, o) for o in offsets])

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> list[CommittedOffset]:
        async with self._database.read() as db:
            if partitions is None:
                rows = await db.fetch(sql.numbered(sql.GROUP_OFFSETS), group_id)
            else:
                wanted = sorted(set(partitions))
                rows = await db.fetch(
                    "SELECT o.topic, o.partition, o.committed_offset, o.leader_epoch, o.metadata, o.commit_ms"
                    " FROM committed_offsets AS o JOIN unnest($2::text[], $3::integer[]) AS k (topic, partition)"
                    " ON o.topic = k.topic AND o.partition = k.partition WHERE o.group_id = $1",
                    group_id,
                    [topic for topic, _ in wanted],
                    [partition for _, partition in wanted],
                )
        return sorted((CommittedOffset(*row) for row in rows), key=lambda o: (o.topic, o.partition))

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        if not partitions:
            return
        async with self._database.transaction() as db:
            await db.execute(
                "DELETE FROM committed_offsets AS o USING unnest($2::text[], $3::integer[]) AS k (topic, partition)"
                " WHERE o.group_id = $1 AND o.topic = k.topic AND o.partition = k.partition",
                group_id,
                [topic for topic, _ in partitions],
                [partition for _, partition in partitions],
            )
