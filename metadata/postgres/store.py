"""The production metadata store: every role over one PostgreSQL database (metadata.postgres.database)."""

from __future__ import annotations

from streamhouse.metadata.postgres.acls import PostgresAcls
from streamhouse.metadata.postgres.cleaner import PostgresCleaner
from streamhouse.metadata.postgres.cluster import PostgresCluster
from streamhouse.metadata.postgres.consumer_groups import PostgresConsumerGroups
from streamhouse.metadata.postgres.database import PostgresDatabase
from streamhouse.metadata.postgres.groups import PostgresGroups
from streamhouse.metadata.postgres.log import PostgresLog
from streamhouse.metadata.postgres.notifications import ChangeNotifications
from streamhouse.metadata.postgres.share_states import PostgresShareStates
from streamhouse.metadata.postgres.topics import PostgresTopics
from streamhouse.metadata.postgres.transactions import PostgresTransactions
from streamhouse.metadata.postgres.users import PostgresUsers


class PostgresMetadataStore:
    """MetadataStore on PostgreSQL; `dsn` is a postgresql:// URL, `pool_size` the most connections."""

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.database = PostgresDatabase(dsn, pool_size)
        self.topics = PostgresTopics(self.database)
        self.log = PostgresLog(self.database)
        self.groups = PostgresGroups(self.database)
        self.transactions = PostgresTransactions(self.database)
        self.acls = PostgresAcls(self.database)
        self.cleaner = PostgresCleaner(self.database)
        self.cluster = PostgresCluster(self.database)
        self.users = PostgresUsers(self.database)
        self.share_states = PostgresShareStates(self.database)
        self.consumer_groups = PostgresConsumerGroups(self.database)
        self._notifications = ChangeNotifications(dsn, self.database.where, self.database.origin, self.database.changes)
        self.applied_migrations: list[int] = []

    async def start(self) -> None:
        if self.database.pool is not None:
            return
        applied = await self.database.open()
        try:
            with self.database.translated():
                await self._notifications.start()
        except BaseException:
            await self.database.close()
            raise
        self.applied_migrations = applied

    async def close(self) -> None:
        await self._notifications.stop()
        await self.database.close()

    async def check(self) -> None:
        async with self.database.read() as db:
            await db.fetchval("SELECT 1")
