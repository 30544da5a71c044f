"""The cluster role of the production store (metadata.roles.ClusterStore).

Its change feed carries this store's changes and, through metadata.postgres.notifications,
those of every other store on the database.
"""

from __future__ import annotations

from collections.abc import Callable

from streamhouse.metadata import sql
from streamhouse.metadata.base import BrokerInfo, ChangeListener, format_listeners
from streamhouse.metadata.postgres.database import NOW_MS, PostgresDatabase


class PostgresCluster:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def register_broker(self, broker: BrokerInfo) -> None:
        async with self._database.transaction() as db:
            await db.execute(
                "INSERT INTO brokers (broker_id, host, port, listeners, heartbeat_ms)"
                f" VALUES ($1, $2, $3, $4, {NOW_MS})"
                f" ON CONFLICT (broker_id) DO UPDATE SET {sql.REREGISTER_BROKER}",
                broker.broker_id,
                broker.host,
                broker.port,
                format_listeners(broker.listeners),
            )

    async def live_brokers(self, max_age_ms: int) -> list[BrokerInfo]:
        async with self._database.read() as db:
            rows = await db.fetch(
                f"SELECT broker_id, host, port, listeners FROM brokers WHERE heartbeat_ms >= {NOW_MS} - $1"
                " ORDER BY broker_id",
                max_age_ms,
            )
        return [sql.broker_info(*row) for row in rows]

    async def deregister_broker(self, broker: BrokerInfo) -> None:
        async with self._database.transaction() as db:
            await db.execute(sql.numbered(sql.DEREGISTER_BROKER), broker.broker_id, broker.host, broker.port)

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        return self._database.changes.subscribe(listener)
