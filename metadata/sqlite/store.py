"""The embedded metadata store: one SQLite file, every role over one connection (metadata.sqlite.database)."""

from __future__ import annotations

from streamhouse.metadata.sqlite.acls import SqliteAcls
from streamhouse.metadata.sqlite.cleaner import SqliteCleaner
from streamhouse.metadata.sqlite.cluster import SqliteCluster
from streamhouse.metadata.sqlite.consumer_groups import SqliteConsumerGroups
from streamhouse.metadata.sqlite.database import SqliteDatabase
from streamhouse.metadata.sqlite.groups import SqliteGroups
from streamhouse.metadata.sqlite.log import SqliteLog
from streamhouse.metadata.sqlite.share_states import SqliteShareStates
from streamhouse.metadata.sqlite.topics import SqliteTopics
from streamhouse.metadata.sqlite.transactions import SqliteTransactions
from streamhouse.metadata.sqlite.users import SqliteUsers


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
