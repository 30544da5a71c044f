"""The ACL role of the production store (metadata.roles.AclStore)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from streamhouse.metadata import sql
from streamhouse.metadata.base import AclBinding
from streamhouse.metadata.postgres.database import PostgresDatabase


class PostgresAcls:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def add_acls(self, bindings: Sequence[AclBinding]) -> None:
        await self._change(sql.ADD_ACL + " RETURNING 1", bindings)

    async def delete_acls(self, bindings: Sequence[AclBinding]) -> None:
        await self._change(sql.DELETE_ACL + " RETURNING 1", bindings)

    async def list_acls(self) -> list[AclBinding]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.LIST_ACLS)
        return sorted(AclBinding(*row) for row in rows)

    async def acls_version(self) -> int:
        async with self._database.read() as db:
            return int(await db.fetchval(sql.ACLS_VERSION))

    async def _change(self, statement: str, bindings: Sequence[AclBinding]) -> None:
        numbered = sql.numbered(statement)
        async with self._database.transaction() as db:
            changed = False
            for binding in bindings:
                changed |= await db.fetchval(numbered, *dataclasses.astuple(binding)) is not None
            if changed:
                await db.execute(sql.BUMP_ACLS_VERSION)
