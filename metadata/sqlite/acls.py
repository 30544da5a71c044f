"""The ACL role of the embedded store (metadata.roles.AclStore)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence

from streamhouse.metadata import sql
from streamhouse.metadata.base import AclBinding
from streamhouse.metadata.sqlite.database import SqliteDatabase


class SqliteAcls:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def add_acls(self, bindings: Sequence[AclBinding]) -> None:
        await self._change(sql.ADD_ACL, bindings)

    async def delete_acls(self, bindings: Sequence[AclBinding]) -> None:
        await self._change(sql.DELETE_ACL, bindings)

    async def list_acls(self) -> list[AclBinding]:
        return sorted(AclBinding(*row) for row in await self._database.fetch(sql.LIST_ACLS))

    async def acls_version(self) -> int:
        rows = await self._database.fetch(sql.ACLS_VERSION)
        return int(rows[0][0])

    async def _change(self, statement: str, bindings: Sequence[AclBinding]) -> None:
        rows = [dataclasses.astuple(binding) for binding in bindings]

        def change(connection: sqlite3.Connection) -> None:
            before = connection.total_changes
            connection.executemany(statement, rows)
            if connection.total_changes != before:
                connection.execute(sql.BUMP_ACLS_VERSION)

        await self._database.transaction(change)
