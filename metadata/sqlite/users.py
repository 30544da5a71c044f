"""The users role of the embedded store (metadata.roles.UserStore)."""

from __future__ import annotations

from streamhouse.metadata import sql
from streamhouse.metadata.base import ScramCredential
from streamhouse.metadata.sqlite.database import SqliteDatabase, now_ms


class SqliteUsers:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def upsert_credential(self, credential: ScramCredential) -> None:
        row = sql.scram_credential_row(credential, now_ms())
        await self._database.transaction(lambda connection: connection.execute(sql.UPSERT_SCRAM_CREDENTIAL, row))

    async def delete_credentials(self, user: str, mechanism: str | None = None) -> int:
        statement, parameters = sql.delete_scram_credentials(user, mechanism)
        return await self._database.transaction(lambda connection: connection.execute(statement, parameters).rowcount)

    async def list_credentials(self) -> list[ScramCredential]:
        return sql.scram_credentials_from(await self._database.fetch(sql.LIST_SCRAM_CREDENTIALS))
