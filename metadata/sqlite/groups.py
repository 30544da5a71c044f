"""The groups role of the embedded store (metadata.roles.GroupStore)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from streamhouse.metadata import sql
from streamhouse.metadata.base import CommittedOffset, GroupRecord
from streamhouse.metadata.sqlite.database import Row, SqliteDatabase, batches, now_ms, values


class SqliteGroups:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def save_group(self, group: GroupRecord) -> None:
        row = (*sql.group_row(group), now_ms())
        await self._database.transaction(
            lambda connection: connection.execute(
                f"INSERT OR REPLACE INTO consumer_groups ({sql.GROUP_COLUMNS}, updated_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        )

    async def list_groups(self) -> list[GroupRecord]:
        rows = await self._database.fetch(f"SELECT {sql.GROUP_COLUMNS} FROM consumer_groups ORDER BY group_id")
        return [GroupRecord(*row) for row in rows]

    async def delete_group(self, group_id: str) -> None:
        def delete(connection: sqlite3.Connection) -> None:
            for statement in sql.DELETE_GROUP:
                connection.execute(statement, (group_id,))

        await self._database.transaction(delete)

    async def commit_offsets(self, group_id: str, offsets: Sequence[CommittedOffset]) -> None:
        rows = [sql.offset_row(group_id, o) for o in offsets]
        await self._database.transaction(lambda connection: connection.executemany(sql.COMMIT_OFFSET, rows))

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> list[CommittedOffset]:
        def fetch(connection: sqlite3.Connection) -> list[Row]:
            if partitions is None:
                return connection.execute(sql.GROUP_OFFSETS, (group_id,)).fetchall()
            rows: list[Row] = []
            for batch in batches(sorted(set(partitions))):
                rows += connection.execute(
                    "SELECT o.topic, o.partition, o.committed_offset, o.leader_epoch, o.metadata, o.commit_ms"
                    f" FROM (VALUES {values(len(batch), 2)}) AS k JOIN committed_offsets AS o"
                    " ON o.group_id = ? AND o.topic = k.column1 AND o.partition = k.column2",
                    [*(value for pair in batch for value in pair), group_id],
                ).fetchall()
            return rows

        rows = await self._database.run(fetch)
        return sorted((CommittedOffset(*row) for row in rows), key=lambda o: (o.topic, o.partition))

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        rows = [(group_id, topic, partition) for topic, partition in partitions]
        await self._database.transaction(
            lambda connection: connection.executemany(
                "DELETE FROM committed_offsets WHERE group_id = ? AND topic = ? AND partition = ?", rows
            )
        )
