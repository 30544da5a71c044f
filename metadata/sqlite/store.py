"""The embedded metadata store: one SQLite file, every role over one connection (metadata.sqlite.database)."""

from __future__ import annotations

from metadata.sqlite.acls import SqliteAcls
from metadata.sqlite.cleaner import SqliteCleaner
from metadata.sqlite.cluster import SqliteCluster
from metadata.sqlite.consumer_groups import SqliteConsumerGroups
from metadata.sqlite.database import SqliteDatabase
from metadata.sqlite.groups import SqliteGroups
from metadata.sqlite.log import SqliteLog
from metadata.sqlite.share_states import SqliteShareStates
from metadata.sqlite.topics import SqliteTopics
from metadata.sqlite.transactions import SqliteTransactions
from metadata.sqlite.users import SqliteUsers


class SqliteMetadataStore:
    """MetadataStore on SQLite; `path` is a file (its folder is created) or ":memory:"."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.database = SqliteDatabase(path, busy_timeout_ms)
        self.topics = SqliteTopics(self.database)
        self.log = SqliteLog(self.database)
        self.groups = SqliteGroups(self.database)
        self.transactions = SqliteTransactions(self.database)
        self.acls = SqliteAcls(self.database)
        self.cleaner = SqliteCleaner(self.database)
        self.cluster = SqliteCluster(self.database)
        self.users = SqliteUsers(self.database)
        self.share_states = SqliteShareStates(self.database)
        self.consumer_groups = SqliteConsumerGroups(self.database)
        self.applied_migrations: list[int] = []

    async def start(self) -> None:
        if not self.database.opened:
            self.applied_migrations = await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def check(self) -> None:
        await self.database.fetch("SELECT 1")
