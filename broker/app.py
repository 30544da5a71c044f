"""The broker: wires the metadata store, the object store and the partition log to the listener."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from broker.cluster import ClusterView
from broker.config import BrokerConfig
from broker.groups.coordinator import GroupCoordinator
from broker.handlers import HANDLERS
from broker.http import HttpServer
from broker.log_index import LogIndex
from broker.metrics import Metrics, time_metadata_queries
from broker.server import Connection
from broker.topics import TopicAdmin, TopicCache, cleanup_policies, effective_config
from broker.transactions import TransactionCoordinator
from broker.workers import CpuWorkers
from metadata import open_metadata_store
from metadata.base import BrokerInfo, MetadataUnavailableError
from protocol import wire
from storage.commit import open_commit_strategy
from storage.diskcache import DiskRangeCache
from storage.log import PartitionLog
from storage.maintenance import FLUSH_PREFIX, Maintenance, Retention, now_ms
from storage.objects import open_object_store
from storage.stats import FOLD_AT, FOLD_INTERVAL_S
from storage.transactions import TransactionStates

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
# An unreachable metadata store must not hold up a stop: the heartbeat expiry covers a missed deregistration.
DEREGISTER_TIMEOUT_SECONDS = 5.0


class BrokerIdInUseError(Exception):
    """Another live broker registered this broker's id with another address."""


class Broker:
    """One broker process: its services, its listener and its life cycle."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.metadata = open_metadata_store(config.metadata_url, config.metadata_pool_size)
        self.objects = open_object_store(
            config.storage_url,
            config.fsync,
            s3_endpoint=config.s3_endpoint,
            s3_region=config.s3_region,
            pack_prefix=FLUSH_PREFIX,  # flush objects live until compaction: a folder packs them into volumes
        )
        writes = config.write_tuning
        self.log = PartitionLog(
            self.objects,
            self.metadata,
            broker_id=config.broker_id,
            flush_ms=writes.flush_ms,
            flush_bytes=writes.flush_bytes,
            flushes_in_flight=writes.flushes_in_flight,
            tail_cache_bytes=config.tail_cache_bytes,
            object_cache_bytes=config.object_cache_bytes,
            read_ahead_bytes=config.read_ahead_bytes,
            disk_cache=DiskRangeCache(config.cache_dir, config.cache_dir_bytes) if config.cache_dir else None,
            commits=open_commit_strategy(config.commit_strategy_in_use, self.objects, self.metadata.log),
        )
        self.log_index = LogIndex(self.metadata, self.log)
        self.topics = TopicCache(self.metadata)
        self.topic_admin = TopicAdmin(self.metadata, self.topics, self.log)
        self.coordinator = GroupCoordinator(
            self.metadata,
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
        )
        self.transactions = TransactionCoordinator(
            self.metadata,
            self.log,
            self.topics,
            max_timeout_ms=config.transaction_max_timeout_ms,
            owns=self.coordinates_transaction,
        )
        self.transaction_states = TransactionStates(self.metadata)
        self.cpu_workers = CpuWorkers()
        self.connections: set[Connection] = set()
        self.broker_defaults = {"max.message.bytes": str(config.message_max_bytes)}
        self.started_at = time.time()
        self.port = config.port
        self.metrics = Metrics(self) if config.metrics else None
        if self.metrics is not None:
            time_metadata_queries(self.metadata, self.metrics.stats)
        self.http = HttpServer(self)
        self.maintenance = Maintenance(
            self.objects, self.metadata, self.log, orphan_min_age_ms=config.orphan_object_min_age_ms
        )
        self._server: asyncio.Server | None = None
        self._maintenance_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._fold_task: asyncio.Task[None] | None = None
        self._transaction_expiry_task: asyncio.Task[None] | None = None
        self.cluster = ClusterView.of(self.info, ())
        self._groups_placed_on: tuple[int, ...] = ()  # the live brokers the coordinator's groups were chosen by

    def coordinates_transaction(self, transactional_id: str) -> bool:
        return self.cluster.coordinates_transaction(transactional_id)

    @property
    def info(self) -> BrokerInfo:
        return BrokerInfo(self.config.broker_id, self.config.client_host, self.port)

    async def start(self) -> None:
        """Bind, join the live brokers, load this broker's groups, then serve clients.

        A step that fails (a port in use, a broker id taken) stops what the earlier ones started before
        the error propagates: the metadata store's thread would otherwise keep the process alive.
        """
        await self.metadata.start()
        try:
            await self._start_serving()
        except BaseException:
            await self.stop()
            raise

    async def _start_serving(self) -> None:
        self.log.start()
        self.transaction_states.start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self.config.host, self.config.port, start_serving=False
        )
        self.port = self._server.sockets[0].getsockname()[1]
        await self._check_id_is_free()
        await self.refresh_cluster()
        await self.coordinator.start(self.cluster.coordinates)
        self._groups_placed_on = self.cluster.broker_ids
        await self._server.start_serving()
        await self.http.start()
        self._maintenance_task = asyncio.create_task(self._maintain(), name="maintenance")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="broker-heartbeat")
        self._fold_task = asyncio.create_task(self._fold_histograms(), name="fold-histograms")
        self._transaction_expiry_task = asyncio.create_task(self._expire_transactions(), name="transaction-expiry")

    async def _check_id_is_free(self) -> None:
        me = self.info
        for other in await self.metadata.cluster.live_brokers(self.config.broker_expiry_ms):
            if other.broker_id == me.broker_id and (other.host, other.port) != (me.host, me.port):
                raise BrokerIdInUseError(
                    f"broker id {me.broker_id} is in use by the live broker at {other.host}:{other.port}: "
                    "give every broker sharing a metadata store its own --broker-id"
                )

    async def refresh_cluster(self) -> None:
        """Heartbeat, re-read the live brokers, and take over or hand over groups if they changed."""
        await self.metadata.cluster.register_broker(self.info)
        view = ClusterView.of(self.info, await self.metadata.cluster.live_brokers(self.config.broker_expiry_ms))
        if view.brokers != self.cluster.brokers:
            log.info("live brokers: %s", ", ".join(f"{b.broker_id} at {b.host}:{b.port}" for b in view.brokers))
        self.cluster = view
        if self.coordinator.active and view.broker_ids != self._groups_placed_on:
            await self.coordinator.reassign(view.coordinates)
            self._groups_placed_on = view.broker_ids

    async def _fold_histograms(self) -> None:
        """Bucket the histograms' pending observations, so that they never pile up between scrapes.

        Only histograms holding FOLD_AT observations or more: folding costs per histogram, and a
        scrape folds the rest.
        """
        while True:
            await asyncio.sleep(FOLD_INTERVAL_S)
            histograms = [*self.log.stats.histograms(), *(self.metrics.stats.histograms() if self.metrics else ())]
            for histogram in histograms:
                histogram.fold(FOLD_AT)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.broker_heartbeat_ms / 1000)
            try:
                await self.refresh_cluster()
            except MetadataUnavailableError as exc:
                log.warning("broker heartbeat failed; keeping the last view of the cluster: %s", exc)
            except Exception:
                log.exception("broker heartbeat failed; the next one will retry")

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def handle(self, request: wire.Request[Any], connection: Connection) -> Any:
        return await HANDLERS[request.api.key](self, request, connection)

    async def maintain_once(self) -> None:
        """One pass of retention, compaction into segments and garbage collection over every partition."""
        now = now_ms()
        for topic in await self.metadata.topics.list_topics():
            retention = Retention(
                int(effective_config(topic, "retention.ms", self.broker_defaults)),
                int(effective_config(topic, "retention.bytes", self.broker_defaults)),
            )
            if "delete" not in cleanup_policies(topic, self.broker_defaults):
                # cleanup.policy=compact alone: retention does not apply (Kafka's rule). The log is
                # not cleaned by key either, which keeps every record: more than the last per key.
                retention = Retention(-1, -1)
            for partition in range(topic.partitions):
                await self.maintenance.apply_retention(topic.topic_id, partition, retention, now)
                await self.maintenance.compact(topic.topic_id, partition, self.config.compaction_interval_ms, now)
        await self.maintenance.collect_garbage(now)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.config.compaction_interval_ms / 1000)
            try:
                await self.maintain_once()
            except Exception:
                log.exception("maintenance pass failed; the next one will retry")

    async def _expire_transactions(self) -> None:
        while True:
            await asyncio.sleep(self.config.transaction_expiry_interval_ms / 1000)
            try:
                await self.transactions.expire()
            except MetadataUnavailableError as exc:
                log.warning("transaction expiry pass failed; the next one will retry: %s", exc)
            except Exception:
                log.exception("transaction expiry pass failed; the next one will retry")

    async def _deregister(self) -> None:
        """Leave the others' view at their next heartbeat, instead of after the expiry."""
        try:
            await asyncio.wait_for(self.metadata.cluster.deregister_broker(self.info), DEREGISTER_TIMEOUT_SECONDS)
        except (MetadataUnavailableError, TimeoutError) as exc:
            log.warning(
                "could not deregister; the other brokers drop this one when its heartbeat expires: %s",
                exc or "timed out",
            )

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
        """Stop accepting, answer what was received, flush, leave the live brokers, close the stores."""
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
        if self._fold_task is not None:
            self._fold_task.cancel()
        if self._transaction_expiry_task is not None:
            self._transaction_expiry_task.cancel()
        self.transactions.active = False
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            # Its last registration must not land after the deregistration below.
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        # Parked joins and syncs are answered NOT_COORDINATOR now, not after a whole rebalance.
        await self.coordinator.stop()
        await self._deregister()
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
        self.transaction_states.close()
        self.cpu_workers.close()
        await self.metadata.close()
        await self.objects.close()
