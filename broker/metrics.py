"""Prometheus metrics of one broker process, all named streamhouse_*.

Hot paths only add to plain numbers (BrokerStats here, LogStats in storage/, S3Stats in the S3
store, the coordinator's rebalance counts); one custom collector turns them into samples when
Prometheus scrapes. Things that need the metadata store (consumer lag, topic and partition
counts, live brokers) are read by `refresh()` just before each scrape. Every broker has its own
registry, never prometheus-client's global one. Label values are bounded: topic names, group
ids, API names and versions, S3 operation names, error names; never client or member ids.
Topic and group labels name only topics and groups that exist: a request naming an invalid or
unknown one is counted under UNKNOWN_LABEL, and each scrape's refresh drops the series of topics
and groups that are gone. Each family keeps at most MAX_SERIES series; what comes for more is
counted in streamhouse_metric_series_dropped. A scrape renders in a worker thread, from a copy of
the numbers taken on the event loop (`freeze`): the loop goes on counting meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from streamhouse.broker.share.metrics import share_families
from streamhouse.broker.share.partitions import ShareStats
from streamhouse.metadata.base import MetadataError, MetadataStore
from streamhouse.metadata.roles import ROLES
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.primitives import RecordSet, record_set_pieces
from streamhouse.protocol.records import iter_batches
from streamhouse.storage.cleaner import CleanerStats
from streamhouse.storage.stats import LATENCY_BOUNDS, Histogram, LogStats

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "streamhouse_"
# Records per batch: a single record up to the tens of thousands a large linger gathers.
BATCH_RECORD_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000)
BROKER_MAX_AGE_MS = 60_000  # a broker whose last heartbeat is older does not count as active
FETCH_GROUP_UNKNOWN = ""  # Fetch requests do not name a group: their errors carry no group
PRODUCE_API = PRODUCE.name
COMMIT_FLUSHES = "commit_flushes"
# How often the event loop's lag is sampled: a sleep of this long, and how much later than asked it ends.
LOOP_LAG_INTERVAL_S = 0.1
LOOP_LAG_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNKNOWN_LABEL = "__unknown"  # the topic or group label of a name that is invalid or names nothing
MAX_SERIES = 10_000  # per family: a bound on the memory and the scrape size unknown names cannot reach
# Errors that say the topic named does not exist (or cannot): its name is no label value.
UNKNOWN_TOPIC_ERRORS = frozenset((ErrorCode.INVALID_TOPIC_EXCEPTION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))


def error_type(code: int) -> str:
    """A Kafka error code as a label value: its name in lower case."""
    try:
        return ErrorCode(code).name.lower()
    except ValueError:
        return f"error_{code}"


def topic_label(topic: str, error: int) -> str:
    return UNKNOWN_LABEL if error in UNKNOWN_TOPIC_ERRORS else topic


@dataclass(slots=True)
class ApiStats:
    """Requests of one Kafka API: one dictionary look-up per request reaches all of them."""

    seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    versions: dict[int, int] = field(default_factory=dict)  # requests per version
    request_bytes: int = 0
    response_bytes: int = 0


@dataclass
class BrokerStats:
    """What the broker's handlers saw, in plain numbers (one event loop: no locks needed)."""

    apis: dict[str, ApiStats] = field(default_factory=dict)
    produced_records: dict[str, int] = field(default_factory=dict)
    produced_bytes: dict[str, int] = field(default_factory=dict)
    produce_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    batch_records: Histogram = field(default_factory=lambda: Histogram(BATCH_RECORD_BOUNDS))
    fetched_records: dict[str, int] = field(default_factory=dict)
    fetched_bytes: dict[str, int] = field(default_factory=dict)
    fetch_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    consumed_records: dict[tuple[str, str], int] = field(default_factory=dict)  # (topic, group)
    consumer_errors: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (topic, group, error)
    metadata_seconds: dict[str, Histogram] = field(default_factory=dict)
    loop_lag: Histogram = field(default_factory=lambda: Histogram(LOOP_LAG_BOUNDS))
    # The last committed offset seen per (group, topic, partition): commits advance consumed_records.
    committed: dict[tuple[str, str, int], int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # counts refused a new series, per family
    telemetry_pushes: dict[str, int] = field(default_factory=dict)  # by outcome: "none" or the error's name
    telemetry_bytes: int = 0

    def _add(self, family: str, counts: dict[T, int], key: T, amount: int = 1) -> None:
        value = counts.get(key)
        if value is None and len(counts) >= MAX_SERIES:
            self.dropped[family] = self.dropped.get(family, 0) + 1
            return
        counts[key] = (value or 0) + amount

    def telemetry_pushed(self, error: int, size: int) -> None:
        """One PushTelemetry request (KIP-714): its outcome, and the bytes of an accepted one."""
        self._add("client_telemetry_pushes", self.telemetry_pushes, error_type(error))
        if not error:
            self.telemetry_bytes += size

    def request(self, api: str, version: int, seconds: float, request_bytes: int, response_bytes: int) -> None:
        stats = self.apis.get(api)
        if stats is None:
            stats = self.apis[api] = ApiStats()
        stats.versions[version] = stats.versions.get(version, 0) + 1
        stats.seconds.observe(seconds)
        stats.request_bytes += request_bytes
        stats.response_bytes += response_bytes

    def produced(self, topic: str, error: int, records: int, size: int) -> None:
        """One partition of a Produce request: acknowledged records and bytes, or its error."""
        if error:
            self._add("producer_errors", self.produce_errors, (topic_label(topic, error), error_type(error)))
            return
        produced_records = self.produced_records  # inlined: this runs for every produced partition
        known = produced_records.get(topic)
        if known is None and len(produced_records) >= MAX_SERIES:
            self.dropped["producer_records"] = self.dropped.get("producer_records", 0) + 1
            return
        produced_records[topic] = (known or 0) + records
        produced_bytes = self.produced_bytes
        produced_bytes[topic] = produced_bytes.get(topic, 0) + size

    def fetched(self, topic: str, fetch_offset: int, error: int, records: RecordSet) -> None:
        """One partition of a Fetch response: the records from fetch_offset on, or its error."""
        if error:
            key = (topic_label(topic, error), FETCH_GROUP_UNKNOWN, error_type(error))
            self._add("consumer_errors", self.consumer_errors, key)
            return
        pieces = record_set_pieces(records)
        size = sum(map(len, pieces))
        if not size:
            return
        first: int | None = None
        end = 0
        for piece in pieces:
            for header, _ in iter_batches(piece, verify_crc=False, allow_partial_tail=True):
                first = header.base_offset if first is None else first
                end = header.base_offset + header.last_offset_delta + 1
        if first is not None:
            self._add("fetch_records", self.fetched_records, topic, max(end - max(first, fetch_offset), 0))
        self._add("fetch_bytes", self.fetched_bytes, topic, size)

    def commit_failed(self, group: str, topic: str, error: int) -> None:
        """`group` is UNKNOWN_LABEL unless the group exists."""
        self._add("consumer_errors", self.consumer_errors, (topic_label(topic, error), group, error_type(error)))

    def commit_succeeded(self, group: str, topic: str, partition: int, offset: int) -> None:
        """A group's records consumed are what its commits advanced over the previous commit."""
        key = (group, topic, partition)
        previous = self.committed.get(key)
        if previous is not None:
            self._add("consumer_records", self.consumed_records, (topic, group), max(offset - previous, 0))
        if previous is not None or len(self.committed) < MAX_SERIES:
            self.committed[key] = offset

    def prune(self, topics: set[str], groups: set[str]) -> None:
        """Drop the series of topics and groups that no longer exist (UNKNOWN_LABEL's stay)."""
        topics = topics | {UNKNOWN_LABEL}
        groups = groups | {UNKNOWN_LABEL, FETCH_GROUP_UNKNOWN}
        for by_topic in (self.produced_records, self.produced_bytes, self.fetched_records, self.fetched_bytes):
            for topic in [topic for topic in by_topic if topic not in topics]:
                del by_topic[topic]
        self.produce_errors = {key: n for key, n in self.produce_errors.items() if key[0] in topics}
        self.consumed_records = {k: n for k, n in self.consumed_records.items() if k[0] in topics and k[1] in groups}
        self.consumer_errors = {k: n for k, n in self.consumer_errors.items() if k[0] in topics and k[1] in groups}
        self.committed = {k: n for k, n in self.committed.items() if k[0] in groups and k[1] in topics}

    def frozen(self) -> BrokerStats:
        """A copy to render in another thread while the event loop goes on counting into this one."""
        return BrokerStats(
            apis={
                api: ApiStats(s.seconds.copy(), dict(s.versions), s.request_bytes, s.response_bytes)
                for api, s in self.apis.items()
            },
            produced_records=dict(self.produced_records),
            produced_bytes=dict(self.produced_bytes),
            produce_errors=dict(self.produce_errors),
            batch_records=self.batch_records.copy(),
            fetched_records=dict(self.fetched_records),
            fetched_bytes=dict(self.fetched_bytes),
            fetch_seconds=self.fetch_seconds.copy(),
            consumed_records=dict(self.consumed_records),
            consumer_errors=dict(self.consumer_errors),
            metadata_seconds={name: histogram.copy() for name, histogram in self.metadata_seconds.items()},
            dropped=dict(self.dropped),
            loop_lag=self.loop_lag.copy(),
            telemetry_pushes=dict(self.telemetry_pushes),
            telemetry_bytes=self.telemetry_bytes,
        )

    def histograms(self) -> Iterator[Histogram]:
        yield self.batch_records
        yield self.fetch_seconds
        yield self.loop_lag
        yield from self.metadata_seconds.values()
        for api_stats in self.apis.values():
            yield api_stats.seconds

    def timed(self, operation: str, call: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        """`call` (a coroutine function), its latency observed as `operation`."""
        histogram = self.metadata_seconds.setdefault(operation, Histogram(LATENCY_BOUNDS))

        @wraps(call)
        async def timed_call(*args: P.args, **kwargs: P.kwargs) -> T:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed_call


async def watch_event_loop(stats: BrokerStats) -> None:
    """Observe, every LOOP_LAG_INTERVAL_S, how much later than asked a sleep ends: the time the loop was busy."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + LOOP_LAG_INTERVAL_S
        await asyncio.sleep(LOOP_LAG_INTERVAL_S)
        stats.loop_lag.observe(max(loop.time() - asked, 0.0))


def time_metadata_queries(store: MetadataStore, stats: BrokerStats) -> None:
    """Wrap `store.check` and each query method of its roles (metadata.roles) to observe their latency.

    commit_flushes, once per group commit, is timed by the partition log instead (LogStats.commit_seconds).
    """
    store.check = stats.timed("check", store.check)  # type: ignore[method-assign]
    for role_name, role in ROLES.items():
        served = getattr(store, role_name)
        for name, _ in inspect.getmembers(role, inspect.iscoroutinefunction):
            if name != COMMIT_FLUSHES:
                setattr(served, name, stats.timed(name, getattr(served, name)))


@dataclass
class Snapshot:
    """What refresh() read from the metadata store for one scrape."""

    topics: int = 0
    partitions: int = 0
    brokers: int = 0
    ready: bool = False
    lag: list[tuple[str, int, str, int]] = field(default_factory=list)  # (topic, partition, group, lag)


@dataclass
class Frozen:
    """What one scrape renders: copies taken on the event loop."""

    stats: BrokerStats
    log_stats: LogStats
    snapshot: Snapshot
    rebalances: dict[str, int]  # of the groups that exist
    cache_sizes: dict[str, int]
    s3_operations: dict[str, Any]
    connections: int
    uptime: float
    authentications: dict[tuple[str, str], int]  # by (mechanism, result)
    authorization_denials: dict[tuple[str, str], int]  # by (operation, resource type)
    cleaner: CleanerStats
    now_ms: int
    share: ShareStats | None = None  # share groups (broker/share/metrics.py)


class Metrics:
    """The broker's registry and its collector."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.stats = BrokerStats()
        self.snapshot = Snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ProcessCollector(registry=None))
        self.registry.register(_Collector(self))
        self.rendering: Frozen | None = None  # what render()'s thread collects; None: collect freezes now
        self._render_lock = asyncio.Lock()

    async def remember_commits(self, group: str, partitions: list[tuple[str, int]]) -> None:
        """Before a commit: learn the previous committed offsets not known yet (the log start if none)."""
        unknown = [
            (topic, partition)
            for topic, partition in partitions
            if (group, topic, partition) not in self.stats.committed
        ]
        if not unknown:
            return
        try:
            stored = {
                (c.topic, c.partition): c.offset
                for c in await self.broker.metadata.groups.fetch_offsets(group, unknown)
            }
        except MetadataError:
            return  # the commit itself will meet the same failure and answer it; the next commit learns
        for topic_name, partition in unknown:
            previous = stored.get((topic_name, partition))
            if previous is None:
                topic = await self.broker.topics.get(topic_name)
                if topic is None:
                    continue
                previous = (await self.broker.log.state(topic.topic_id, partition)).log_start_offset
            self.stats.committed[(group, topic_name, partition)] = previous

    async def refresh(self) -> None:
        """Read topics, partitions, live brokers and every group's lag from the metadata store."""
        metadata = self.broker.metadata
        topics = await metadata.topics.list_topics()
        watermarks: dict[tuple[str, int], int] = {}
        for topic in topics:
            for partition, state in enumerate(await metadata.log.partition_states(topic.topic_id)):
                watermarks[(topic.name, partition)] = state.high_watermark
        lag = []
        stored_groups = await metadata.groups.list_groups()
        for group in stored_groups:
            for committed in await metadata.groups.fetch_offsets(group.group_id):
                high_watermark = watermarks.get((committed.topic, committed.partition))
                if high_watermark is not None:
                    lag.append(
                        (
                            committed.topic,
                            committed.partition,
                            group.group_id,
                            max(high_watermark - committed.offset, 0),
                        )
                    )
        brokers = {broker.broker_id for broker in await metadata.cluster.live_brokers(BROKER_MAX_AGE_MS)}
        brokers.add(self.broker.config.broker_id)
        self.snapshot = Snapshot(len(topics), len(watermarks), len(brokers), self.snapshot.ready, lag)
        groups = {group.group_id for group in stored_groups} | set(self.broker.coordinator.groups)
        self.stats.prune(
            {topic.name for topic in topics} | {topic.name for topic in await self.broker.topics.all()}, groups
        )

    def freeze(self) -> Frozen:
        """Copies of everything the collector reads, taken on the event loop that changes them."""
        broker = self.broker
        log_stats = broker.log.stats
        coordinator = broker.coordinator
        s3_stats = getattr(broker.objects, "stats", None)  # only the S3 store keeps request statistics
        return Frozen(
            stats=self.stats.frozen(),
            log_stats=dataclasses.replace(
                log_stats,
                flush_bytes=log_stats.flush_bytes.copy(),
                flush_to_commit_seconds=log_stats.flush_to_commit_seconds.copy(),
                commit_seconds=log_stats.commit_seconds.copy(),
                cache_hits=dict(log_stats.cache_hits),
                cache_misses=dict(log_stats.cache_misses),
            ),
            snapshot=self.snapshot,
            rebalances={group: n for group, n in coordinator.rebalances.items() if group in coordinator.groups},
            cache_sizes=broker.log.cache_sizes(),
            s3_operations=dict(getattr(s3_stats, "operations", {})),
            connections=len(broker.connections),
            uptime=time.time() - broker.started_at,
            authentications=dict(broker.sasl.counts),
            authorization_denials=dict(broker.authorizer.denials),
            cleaner=dataclasses.replace(
                broker.cleaner.stats,
                dirty_ratio=dict(broker.cleaner.stats.dirty_ratio),
                last_clean_ms=dict(broker.cleaner.stats.last_clean_ms),
            ),
            now_ms=time.time_ns() // 1_000_000,
            share=broker.share_partitions.stats(),
        )

    async def render(self) -> bytes:
        """The registry in Prometheus's text format, rendered in a worker thread from a frozen copy."""
        async with self._render_lock:
            self.rendering = self.freeze()
            try:
                return await asyncio.to_thread(generate_latest, self.registry)
            finally:
                self.rendering = None


def _counter(name: str, documentation: str, labels: tuple[str, ...], values: Mapping[Any, float]) -> Metric:
    family = CounterMetricFamily(PREFIX + name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric([str(part) for part in (key if isinstance(key, tuple) else (key,))], value)
    return family


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


def _histograms(
    name: str, documentation: str, label: str | None, histograms: Mapping[str, Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(PREFIX + name, documentation, labels=[label] if label else None)
    for key, histogram in histograms.items():
        cumulative, count, total = histogram.totals()
        buckets = [(repr(float(bound)), below) for bound, below in zip(histogram.bounds, cumulative, strict=True)]
        family.add_metric([key] if label else [], [*buckets, ("+Inf", count)], total)
    return family


class _Collected:
    """Metric families already read, for generate_latest to format."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class _Collector:
    """Turns the plain numbers into metric families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        frozen = self.metrics.rendering or self.metrics.freeze()
        yield from self._produce(frozen)
        yield from self._consume(frozen)
        yield from self._storage(frozen)
        yield from self._system(frozen)
        yield from self._security(frozen)
        if frozen.share is not None:
            yield from share_families(frozen.share)
        yield _counter(
            "client_telemetry_pushes",
            "PushTelemetry requests (KIP-714), by outcome (none or the error); the metrics pushed are dropped.",
            ("outcome",),
            frozen.stats.telemetry_pushes,
        )
        yield _counter(
            "client_telemetry_bytes",
            "Bytes of client metrics accepted by PushTelemetry.",
            (),
            {(): frozen.stats.telemetry_bytes},
        )
        yield _counter(
            "metric_series_dropped",
            f"Counts not kept because their family already had {MAX_SERIES} series, by family.",
            ("family",),
            frozen.stats.dropped,
        )

    def _produce(self, frozen: Frozen) -> Iterator[Metric]:
        stats = frozen.stats
        yield _counter("producer_records", "Records acknowledged to producers.", ("topic",), stats.produced_records)
        yield _counter(
            "producer_bytes", "Record batch bytes acknowledged to producers.", ("topic",), stats.produced_bytes
        )
        # The Produce API's request duration, measured once by the listener for both families.
        produce = stats.apis.get(PRODUCE_API)
        yield _histograms(
            "producer_latency_seconds",
            "Produce requests from received to acknowledged (acks 0: to appended, as no answer is due).",
            None,
            {"": produce.seconds} if produce is not None else {},
        )
        yield _histograms("producer_batch_size", "Records per produced record batch.", None, {"": stats.batch_records})
        yield _counter(
            "producer_errors",
            "Produce partitions answered with an error, by Kafka error name.",
            ("topic", "error_type"),
            stats.produce_errors,
        )

    def _consume(self, frozen: Frozen) -> Iterator[Metric]:
        stats = frozen.stats
        yield _counter(
            "consumer_records",
            "Records consumed by each group: how far its offset commits advanced.",
            ("topic", "consumer_group"),
            stats.consumed_records,
        )
        lag = GaugeMetricFamily(
            PREFIX + "consumer_lag",
            "High watermark minus the group's committed offset, read at scrape time.",
            labels=("topic", "partition", "consumer_group"),
        )
        for topic, partition, group, value in frozen.snapshot.lag:
            lag.add_metric([topic, str(partition), group], value)
        yield lag
        yield _counter(
            "consumer_rebalances",
            "Rebalances started, per group.",
            ("consumer_group",),
            frozen.rebalances,
        )
        yield _counter(
            "consumer_errors",
            'Fetch and OffsetCommit partitions answered with an error (a Fetch names no group: "").',
            ("topic", "consumer_group", "error_type"),
            stats.consumer_errors,
        )
        yield _counter("fetch_records", "Records returned by fetches.", ("topic",), stats.fetched_records)
        yield _counter("fetch_bytes", "Record batch bytes returned by fetches.", ("topic",), stats.fetched_bytes)
        yield _histograms(
            "fetch_latency_seconds",
            "Fetch requests from received to answered, less the long-poll wait for new data.",
            None,
            {"": stats.fetch_seconds},
        )

    def _storage(self, frozen: Frozen) -> Iterator[Metric]:
        log_stats = frozen.log_stats
        yield _counter(
            "segment_writes", "Record batches written into the write buffer.", (), {(): log_stats.batches_written}
        )
        yield _counter("segment_flushes", "Flush objects written and committed.", (), {(): log_stats.flushes})
        yield _counter(
            "segment_flush_errors",
            "Flushes that failed in the object store or the metadata store.",
            (),
            {(): log_stats.flush_failures},
        )
        yield _histograms("segment_flush_bytes", "Bytes per flush object.", None, {"": log_stats.flush_bytes})
        yield _histograms(
            "flush_to_commit_seconds",
            "From the start of a flush's object write to the end of its metadata commit.",
            None,
            {"": log_stats.flush_to_commit_seconds},
        )
        yield _counter("cache_hits", "Reads served by a cache.", ("cache",), log_stats.cache_hits)
        yield _counter("cache_misses", "Reads a cache could not serve.", ("cache",), log_stats.cache_misses)
        sizes = GaugeMetricFamily(PREFIX + "cache_size_bytes", "Bytes held by each cache.", labels=("cache",))
        for cache, size in frozen.cache_sizes.items():
            sizes.add_metric([cache], size)
        yield sizes
        yield _histograms(
            "metadata_query_seconds",
            "Metadata store calls, by operation.",
            "operation",
            {**frozen.stats.metadata_seconds, COMMIT_FLUSHES: log_stats.commit_seconds},
        )
        yield from self._s3(frozen.s3_operations)
        yield from self._cleaner(frozen.cleaner, frozen.now_ms)

    def _cleaner(self, cleaner: CleanerStats, now_ms: int) -> Iterator[Metric]:
        yield _counter("log_cleaner_bytes_read", "Bytes the log cleaner read.", (), {(): cleaner.bytes_read})
        yield _counter("log_cleaner_bytes_written", "Bytes the log cleaner wrote.", (), {(): cleaner.bytes_written})
        yield _counter(
            "log_cleaner_records_removed", "Records the log cleaner removed.", (), {(): cleaner.records_removed}
        )
        seconds_since = {key: (now_ms - cleaned_ms) / 1000 for key, cleaned_ms in cleaner.last_clean_ms.items()}
        for name, documentation, values in (
            (
                "log_cleaner_dirty_ratio",
                "Share of a compacted partition's cleanable bytes not cleaned yet, as of the cleaner's last look.",
                cleaner.dirty_ratio,
            ),
            (
                "log_cleaner_seconds_since_last_clean",
                "Seconds since this broker last cleaned the partition.",
                seconds_since,
            ),
        ):
            family = GaugeMetricFamily(PREFIX + name, documentation, labels=("topic", "partition"))
            for (topic_id, partition), value in values.items():
                if topic_id in cleaner.topic_names:
                    family.add_metric([cleaner.topic_names[topic_id], str(partition)], value)
            yield family

    def _s3(self, operations: dict[str, Any]) -> Iterator[Metric]:
        # Only the S3 store keeps request statistics; other stores export no s3 samples.
        yield _counter(
            "s3_requests",
            "S3 requests sent (every attempt), by operation.",
            ("operation",),
            {name: op.requests for name, op in operations.items()},
        )
        errors: dict[tuple[str, str], int] = {}
        for name, op in operations.items():
            errors[(name, "throttled")] = op.throttled
            errors[(name, "failed")] = op.errors - op.throttled
        yield _counter("s3_errors", "S3 requests that failed, by operation.", ("operation", "error_type"), errors)
        latency = SummaryMetricFamily(
            PREFIX + "s3_latency_seconds", "S3 request latency (every attempt), by operation.", labels=("operation",)
        )
        for name, op in operations.items():
            latency.add_metric([name], op.requests, op.seconds)
        yield latency

    def _system(self, frozen: Frozen) -> Iterator[Metric]:
        snapshot = frozen.snapshot
        stats = frozen.stats
        yield _gauge("connections_active", "Open Kafka client connections.", frozen.connections)
        yield _histograms(
            "event_loop_lag_seconds",
            f"How much later than asked a {LOOP_LAG_INTERVAL_S:g} s sleep on the event loop ends: the loop's lag.",
            None,
            {"": stats.loop_lag},
        )
        yield _counter(
            "authorization_denials",
            "Requests or parts of them the ACL authorizer refused, by operation and resource type.",
            ("operation", "resource_type"),
            frozen.authorization_denials,
        )
        yield _gauge("partitions_total", "Partitions of all topics.", snapshot.partitions)
        yield _gauge("topics_total", "Topics.", snapshot.topics)
        yield _gauge("brokers_active", "Brokers with a recent heartbeat in the metadata store.", snapshot.brokers)
        yield _gauge("uptime_seconds", "Seconds since this broker started.", frozen.uptime)
        yield _gauge("ready", "1 when /ready would answer 200, else 0.", 1 if snapshot.ready else 0)
        apis = stats.apis
        yield _counter(
            "requests",
            "Kafka requests handled, by API and version.",
            ("api", "version"),
            {(api, version): count for api, api_stats in apis.items() for version, count in api_stats.versions.items()},
        )
        yield _histograms(
            "request_duration_seconds",
            "Kafka requests from received to answered, by API.",
            "api",
            {api: api_stats.seconds for api, api_stats in apis.items()},
        )
        yield _counter(
            "request_bytes",
            "Kafka request bytes received, by API.",
            ("api",),
            {api: api_stats.request_bytes for api, api_stats in apis.items()},
        )
        yield _counter(
            "response_bytes",
            "Kafka response bytes sent, by API.",
            ("api",),
            {api: api_stats.response_bytes for api, api_stats in apis.items()},
        )

    def _security(self, frozen: Frozen) -> Iterator[Metric]:
        yield _counter(
            "authentications",
            'SASL authentications, by mechanism (a mechanism not served: "unknown") and result (success, failure).',
            ("mechanism", "result"),
            frozen.authentications,
        )
