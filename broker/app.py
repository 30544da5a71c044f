"""The broker: wires the metadata store, the object store and the partition log to the listener."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from streamhouse.broker.cluster import ClusterView
from streamhouse.broker.config import BrokerConfig
from streamhouse.broker.groups.consumer import ConsumerGroups
from streamhouse.broker.groups.coordinator import GroupCoordinator
from streamhouse.broker.handlers import HANDLERS
from streamhouse.broker.http import HttpServer
from streamhouse.broker.log_index import LogIndex
from streamhouse.broker.metrics import Metrics, time_metadata_queries, watch_event_loop
from streamhouse.broker.periodic import repeat
from streamhouse.broker.security.authorizer import Authorizer
from streamhouse.broker.security.listeners import Listener, configured_listeners
from streamhouse.broker.security.sasl import SaslService
from streamhouse.broker.security.tls import server_tls
from streamhouse.broker.security.users import UserCredentials
from streamhouse.broker.server import Connection, ConnectionLimits
from streamhouse.broker.share import share_services
from streamhouse.broker.topics import TopicAdmin, TopicCache, cleaner_settings, cleanup_policies, effective_config
from streamhouse.broker.transactions import TransactionCoordinator
from streamhouse.metadata import open_metadata_store
from streamhouse.metadata.base import BrokerInfo, ListenerAddress, MetadataUnavailableError
from streamhouse.protocol import wire
from streamhouse.storage.cleaner import LogCleaner
from streamhouse.storage.commit import open_commit_strategy
from streamhouse.storage.diskcache import DiskRangeCache
from streamhouse.storage.log import PartitionLog
from streamhouse.storage.maintenance import FLUSH_PREFIX, Maintenance, Retention, now_ms
from streamhouse.storage.objects import open_object_store
from streamhouse.storage.stats import FOLD_AT, FOLD_INTERVAL_S
from streamhouse.storage.transactions import TransactionStates

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # bind addresses meaning every interface
# An unreachable metadata store must not hold up a stop: the heartbeat expiry covers a missed deregistration.
DEREGISTER_TIMEOUT_SECONDS = 5.0
CLEANER_MIN_LEASE_MS = 60_000  # a cleaner's lease outlives any pass it makes; a dead broker's lapses


class BrokerIdInUseError(Exception):
    """Another live broker registered this broker's id with another address."""


class Broker:
    """One broker process: its services, its listener and its life cycle."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.listeners = configured_listeners(config)
        self.tls = server_tls(config, self.listeners)
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
        self.consumer_groups = ConsumerGroups(
            self.coordinator.table,
            self.topics,
            session_timeout_ms=config.group_consumer_session_timeout_ms,
            heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms,
            assignors=[name.strip() for name in config.group_consumer_assignors.split(",") if name.strip()],
        )
        self.share_groups, self.share_partitions = share_services(
            config, self.coordinator.table, self.topics, self.metadata
        )
        self.transactions = TransactionCoordinator(
            self.metadata,
            self.log,
            self.topics,
            max_timeout_ms=config.transaction_max_timeout_ms,
            owns=self.coordinates_transaction,
            id_expiration_ms=config.transactional_id_expiration_ms,
        )
        self.transaction_states = TransactionStates(self.metadata)
        self.users = UserCredentials(self.metadata.users)
        self.sasl = SaslService(
            config.sasl_mechanisms,
            self.users,
            max_reauth_ms=config.connections_max_reauth_ms,
            failed_delay_ms=config.connection_failed_authentication_delay_ms,
            oauthbearer_jwks=config.sasl_oauthbearer_jwks,
            oauthbearer_issuer=config.sasl_oauthbearer_issuer,
            oauthbearer_audience=config.sasl_oauthbearer_audience,
        )
        self.authorizer = Authorizer(
            self.metadata.acls,
            enabled=config.authorizer == "acl",
            super_users=config.super_user_principals,
            allow_if_no_acl=config.allow_everyone_if_no_acl_found,
        )
        self.connections: set[Connection] = set()
        self.connection_limits = ConnectionLimits(config)
        self.broker_defaults = {"max.message.bytes": str(config.message_max_bytes)}
        self.started_at = time.time()
        self.port = self.listeners[0].bind.port  # the first listener's, once bound
        self.bound_ports: dict[str, int] = {}  # each listener's port by name, once bound
        self.metrics = Metrics(self) if config.metrics else None
        if self.metrics is not None:
            time_metadata_queries(self.metadata, self.metrics.stats)
        self.http = HttpServer(self)
        self.maintenance = Maintenance(
            self.objects, self.metadata, self.log, orphan_min_age_ms=config.orphan_object_min_age_ms
        )
        self.cleaner = LogCleaner(
            self.objects,
            self.metadata,
            self.log,
            self.transaction_states,
            holder=config.broker_id,
            lease_ms=max(CLEANER_MIN_LEASE_MS, 4 * config.log_cleaner_interval_ms),
            io_max_bytes_per_second=config.log_cleaner_io_max_bytes_per_second,
        )
        self._servers: list[asyncio.Server] = []
        self._maintenance_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._fold_task: asyncio.Task[None] | None = None
        self._transaction_expiry_task: asyncio.Task[None] | None = None
        self._watch_tasks: list[asyncio.Task[None]] = []  # the idle-connection sweep, the event-loop lag probe
        self.cluster = ClusterView.of(self.info, ())
        self._groups_placed_on: tuple[int, ...] = ()  # the live brokers the coordinator's groups were chosen by

    def coordinates_transaction(self, transactional_id: str) -> bool:
        return self.cluster.coordinates_transaction(transactional_id)

    @property
    def info(self) -> BrokerInfo:
        listeners = tuple(map(self.advertised, self.listeners))
        return BrokerInfo(self.config.broker_id, listeners[0].host, listeners[0].port, listeners)

    @property
    def bound_listeners(self) -> list[ListenerAddress]:
        """Each listener's bound address (its port as picked, for port 0)."""
        return [
            listener.bind._replace(port=self.bound_ports.get(listener.name, listener.bind.port))
            for listener in self.listeners
        ]

    def advertised(self, listener: Listener) -> ListenerAddress:
        """Where clients reach this broker through `listener`: as advertised, else where it is bound."""
        if listener.advertised is not None:
            return listener.advertised
        port = self.bound_ports.get(listener.name, listener.bind.port)
        return ListenerAddress(listener.name, self.config.advertised_host or listener.bind.host, port)

    def reload_certificates(self) -> None:
        """Read the TLS certificate and key again (SIGHUP): new connections get them, open ones keep theirs."""
        if self.tls is not None:
            self.tls.reload()

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
        await self.users.start()
        loop = asyncio.get_running_loop()
        for listener in self.listeners:
            tls = self.tls.context if self.tls is not None and listener.tls else None
            server = await loop.create_server(
                functools.partial(Connection, self, listener),
                listener.bind.host,
                listener.bind.port,
                ssl=tls,
                ssl_handshake_timeout=self.config.ssl_handshake_timeout_ms / 1000 if tls else None,
                start_serving=False,
            )
            self._servers.append(server)
            self.bound_ports[listener.name] = server.sockets[0].getsockname()[1]
        self.port = self.bound_ports[self.listeners[0].name]
        for advertised in self.info.listeners:
            if advertised.host in WILDCARD_HOSTS:
                log.warning(
                    "listener %s advertises %r, which clients cannot connect to: "
                    "set --advertised-listeners (or --advertised-host)",
                    advertised.name,
                    advertised.host,
                )
        await self._check_id_is_free()
        await self.authorizer.start()
        await self.refresh_cluster()
        await self.coordinator.start(self.cluster.coordinates)
        self._groups_placed_on = self.cluster.broker_ids
        for server in self._servers:
            await server.start_serving()
        await self.http.start()
        config = self.config
        maintain = repeat(config.compaction_interval_ms / 1000, self.maintain_once, "maintenance pass")
        self._maintenance_task = asyncio.create_task(maintain, name="maintenance")
        clean = repeat(config.log_cleaner_interval_ms / 1000, self.clean_once, "log cleaner pass")
        self._watch_tasks.append(asyncio.create_task(clean, name="log-cleaner"))
        heartbeat = repeat(config.broker_heartbeat_ms / 1000, self.refresh_cluster, "broker heartbeat")
        self._heartbeat_task = asyncio.create_task(heartbeat, name="broker-heartbeat")
        self._fold_task = asyncio.create_task(self._fold_histograms(), name="fold-histograms")
        expire = repeat(config.transaction_expiry_interval_ms / 1000, self.transactions.expire, "transaction expiry")
        self._transaction_expiry_task = asyncio.create_task(expire, name="transaction-expiry")
        if self.config.connections_max_idle_ms > 0:
            idle = self.connection_limits.close_idle(self.connections)
            self._watch_tasks.append(asyncio.create_task(idle, name="idle-connections"))
        if self.metrics is not None:
            self._watch_tasks.append(asyncio.create_task(watch_event_loop(self.metrics.stats), name="event-loop-lag"))

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

    @property
    def listening(self) -> bool:
        return bool(self._servers) and all(server.is_serving() for server in self._servers)

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

    async def clean_once(self) -> None:
        """One pass of the log cleaner over the compacted partitions this broker is preferred for."""
        compacted = [
            topic
            for topic in await self.metadata.topics.list_topics()
            if "compact" in cleanup_policies(topic, self.broker_defaults)
        ]
        self.cleaner.stats.keep_topics({topic.topic_id: topic.name for topic in compacted})
        for topic in compacted:
            settings = cleaner_settings(topic, self.broker_defaults)
            for partition in range(topic.partitions):
                if self.cluster.partition_leader(topic.name, partition) == self.config.broker_id:
                    await self.cleaner.clean(topic.topic_id, partition, settings, now_ms())

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
        for task in self._watch_tasks:
            task.cancel()
        self.transactions.active = False
        self.users.stop()
        await self.authorizer.stop()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            # Its last registration must not land after the deregistration below.
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
        for server in self._servers:
            server.close()
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
        self.cleaner.close()
        await self.metadata.close()
        await self.objects.close()
