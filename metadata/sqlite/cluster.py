"""The cluster role of the embedded store (metadata.roles.ClusterStore).

Its change feed is in-process only: one broker process owns an embedded store's file.
"""

from __future__ import annotations

from collections.abc import Callable

from streamhouse.metadata import sql
from streamhouse.metadata.base import BrokerInfo, ChangeListener, format_listeners
from streamhouse.metadata.sqlite.database import SqliteDatabase, now_ms


class SqliteCluster:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def register_broker(self, broker: BrokerInfo) -> None:
        row = (broker.broker_id, broker.host, broker.port, format_listeners(broker.listeners), now_ms())
        await self._database.transaction(
            lambda connection: connection.execute(
                "INSERT INTO brokers (broker_id, host, port, listeners, heartbeat_ms) VALUES (?, ?, ?, ?, ?)"
                f" ON CONFLICT (broker_id) DO UPDATE SET {sql.REREGISTER_BROKER}",
                row,
            )
        )

    async def live_brokers(self, max_age_ms: int) -> list[BrokerInfo]:
        rows = await self._database.fetch(
            "SELECT broker_id, host, port, listeners FROM brokers WHERE heartbeat_ms >= ? ORDER BY broker_id",
            (now_ms() - max_age_ms,),
        )
        return [sql.broker_info(*row) for row in rows]

    async def deregister_broker(self, broker: BrokerInfo) -> None:
        row = (broker.broker_id, broker.host, broker.port)
        await self._database.transaction(lambda connection: connection.execute(sql.DEREGISTER_BROKER, row))

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        return self._database.changes.subscribe(listener)
