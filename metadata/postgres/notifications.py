"""Change reports between brokers sharing a PostgreSQL database.

Every transaction that changes a partition or a topic also sends pg_notify on CHANGES_CHANNEL
(delivered at commit), and each store LISTENs on a dedicated connection, so brokers learn of
each other's commits without polling. The listening connection is checked every
LISTEN_CHECK_SECONDS; once lost it is remade, and the subscribers get ChangesMissed, as
notifications sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from uuid import UUID

import asyncpg

from streamhouse.metadata.base import Change, ChangesMissed, PartitionChange, TopicChange
from streamhouse.metadata.changes import ChangeFeed

log = logging.getLogger(__name__)

CHANGES_CHANNEL = "streamhouse_changes"
LISTEN_APPLICATION_NAME = "streamhouse-listen"
LISTEN_CHECK_SECONDS = 2.0  # how often the listening connection is probed, and the probe's timeout
LISTEN_RETRY_SECONDS = 0.5  # pause between attempts to remake it


def payload(origin: str, change: PartitionChange | TopicChange) -> str:
    """A change as a notification payload (JSON, far below PostgreSQL's 8000-byte limit)."""
    if isinstance(change, PartitionChange):
        return json.dumps(
            {
                "origin": origin,
                "topic_id": change.topic_id.hex,
                "partition": change.partition,
                "log_start_offset": change.log_start_offset,
                "high_watermark": change.high_watermark,
                "index_rewritten": change.index_rewritten,
                "transactions": change.transactions,
                "cleaned": change.cleaned,
            }
        )
    return json.dumps({"origin": origin, "topic_id": change.topic_id.hex, "topic": change.name})


def parse_payload(text: str) -> tuple[str, Change]:
    """The origin and the change of a notification payload (from another store: local=False)."""
    fields = json.loads(text)
    topic_id = UUID(fields["topic_id"])
    if "topic" in fields:
        return fields["origin"], TopicChange(topic_id, fields["topic"])
    change = PartitionChange(
        topic_id,
        fields["partition"],
        fields["log_start_offset"],
        fields["high_watermark"],
        index_rewritten=fields["index_rewritten"],
        transactions=fields.get("transactions", False),  # absent from brokers older than transactions
        cleaned=fields.get("cleaned", False),  # absent from brokers older than the log cleaner
    )
    return fields["origin"], change


class ChangeNotifications:
    """Listens on CHANGES_CHANNEL and publishes other stores' changes (not `origin`'s own) to `changes`."""

    def __init__(self, dsn: str, where: str, origin: str, changes: ChangeFeed) -> None:
        self._dsn = dsn
        self._where = where
        self._origin = origin
        self._changes = changes
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listening = await self._connect()
        self._task = asyncio.create_task(self._keep_listening(listening), name="metadata-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _connect(self) -> asyncpg.Connection[asyncpg.Record]:
        connection: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
            self._dsn,
            timeout=LISTEN_CHECK_SECONDS * 5,
            server_settings={"application_name": LISTEN_APPLICATION_NAME},
        )
        try:
            await connection.add_listener(CHANGES_CHANNEL, self._notified)
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _keep_listening(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        """Watch the listening connection; when it is lost, remake it and report ChangesMissed."""
        try:
            while True:
                await self._watch(connection)
                connection.terminate()
                log.warning("metadata change notifications from %s lost; reconnecting", self._where)
                connection = await self._reconnect()
                log.info("metadata change notifications from %s back; every cache is stale", self._where)
                self._changes.publish([ChangesMissed()])
        finally:
            connection.terminate()

    async def _watch(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        """Return once the connection is closed or stops answering."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        while not connection.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), LISTEN_CHECK_SECONDS)
            except TimeoutError:
                try:
                    await connection.fetchval("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
                except Exception as exc:  # any failure of a one-row probe means the connection is unusable
                    log.debug("listening connection probe failed: %r", exc)
                    return

    async def _reconnect(self) -> asyncpg.Connection[asyncpg.Record]:
        while True:
            await asyncio.sleep(LISTEN_RETRY_SECONDS)
            try:
                return await self._connect()
            except Exception as exc:  # refused, starting up, shutting down: try again
                log.debug("reconnecting the listening connection failed: %r", exc)

    def _notified(self, connection: object, pid: int, channel: str, text: object) -> None:
        origin, change = parse_payload(str(text))
        if origin != self._origin:
            self._changes.publish([change])
