"""The broker: wires the metadata store, the object store and the partition log to the listener."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from broker.config import BrokerConfig
from broker.coordinator import GroupCoordinator
from broker.handlers import HANDLERS
from broker.http import HttpServer
from broker.server import Connection
from broker.topics import TopicCache, effective_config
from metadata import open_metadata_store
from metadata.base import BrokerInfo
from protocol import wire
from storage.log import PartitionLog
from storage.maintenance import Maintenance, Retention, now_ms
from storage.objects import open_object_store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0


class Broker:
    """One broker process: its services, its listener and its life cycle."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.metadata = open_metadata_store(config.metadata_url)
        self.objects = open_object_store(
            config.storage_url, config.fsync, s3_endpoint=config.s3_endpoint, s3_region=config.s3_region
        )
        self.log = PartitionLog(
            self.objects,
            self.metadata,
            broker_id=config.broker_id,
            flush_ms=config.flush_ms,
            flush_bytes=config.flush_bytes,
            flushes_in_flight=config.flushes_in_flight,
            tail_cache_bytes=config.tail_cache_bytes,
            object_cache_bytes=config.object_cache_bytes,
        )
        self.topics = TopicCache(self.metadata)
        self.coordinator = GroupCoordinator(
            self.metadata,
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
        )
        self.connections: set[Connection] = set()
        self.broker_defaults = {"max.message.bytes": str(config.message_max_bytes)}
        self.started_at = time.time()
        self.port = config.port
        self.http = HttpServer(self)
        self.maintenance = Maintenance(self.objects, self.metadata, self.log)
        self._server: asyncio.Server | None = None
        self._maintenance_task: asyncio.Task[None] | None = None

    @property
    def info(self) -> BrokerInfo:
        return BrokerInfo(self.config.broker_id, self.config.client_host, self.port)

    async def start(self) -> None:
        await self.metadata.start()
        await self.coordinator.start()
        self.log.start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self), self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        await self.metadata.register_broker(self.info)
        await self.http.start()
        self._maintenance_task = asyncio.create_task(self._maintain(), name="maintenance")

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def handle(self, request: wire.Request, connection: Connection) -> Any:
        return await HANDLERS[request.api.key](self, request, connection)

    async def maintain_once(self) -> None:
        """One pass of retention, compaction into segments and garbage collection over every partition."""
        now = now_ms()
        for topic in await self.metadata.list_topics():
            retention = Retention(
                int(effective_config(topic, "retention.ms", self.broker_defaults)),
                int(effective_config(topic, "retention.bytes", self.broker_defaults)),
            )
            for partition in range(topic.partitions):
                await self.maintenance.apply_retention(topic.topic_id, partition, retention, now)
                await self.maintenance.compact(topic.topic_id, partition, self.config.compaction_interval_ms, now)
        await self.maintenance.collect_garbage()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.config.compaction_interval_ms / 1000)
            try:
                await self.maintain_once()
            except Exception:
                log.exception("maintenance pass failed; the next one will retry")

    @staticmethod
    async def _drain(connections: list[Connection], seconds: float) -> None:
        if not connections:
            return
        drained = asyncio.gather(*(connection.drain() for connection in connections))
        try:
            await asyncio.wait_for(drained, seconds)
        except TimeoutError:
            log.warning("requests still running after %.1f s; closing anyway", seconds)

    async def stop(self) -> None:
        """Stop accepting, answer what was received, flush, close the stores."""
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
        if self._server is not None:
            self._server.close()
        # Parked joins and syncs are answered NOT_COORDINATOR now, not after a whole rebalance.
        await self.coordinator.stop()
        # Waiting produce requests must not sit out flush.ms: flush from now on at once.
        self.log.flush_immediately()
        connections = list(self.connections)
        await self._drain(connections, SHUTDOWN_GRACE_SECONDS)
        await self.log.close()
        # Appends that were still waiting are resolved now: let their responses go out.
        await self._drain(connections, 1.0)
        for connection in connections:
            connection.close("broker shutting down")
        await self.http.stop()
        await self.metadata.close()
        await self.objects.close()
