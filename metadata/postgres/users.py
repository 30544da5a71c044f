"""The users role of the production store (metadata.roles.UserStore)."""

from __future__ import annotations

import time

from streamhouse.metadata import sql
from streamhouse.metadata.base import ScramCredential
from streamhouse.metadata.postgres.database import PostgresDatabase


class PostgresUsers:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def upsert_credential(self, credential: ScramCredential) -> None:
        row = sql.scram_credential_row(credential, int(time.time() * 1000))
        async with self._database.transaction() as db:
            await db.execute(sql.numbered(sql.UPSERT_SCRAM_CREDENTIAL), *row)

    async def delete_credentials(self, user: str, mechanism: str | None = None) -> int:
        statement, parameters = sql.delete_scram_credentials(user, mechanism)
        async with self._database.transaction() as db:
            status = await db.execute(sql.numbered(statement), *parameters)
        return int(status.split()[-1])  # "DELETE <count>"

    async def list_credentials(self) -> list[ScramCredential]:
        async with self._database.read() as db:
            rows = await db.fetch(sql.LIST_SCRAM_CREDENTIALS)
        return sql.scram_credentials_from(rows)
