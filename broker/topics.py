"""Topics as the broker sees them: names, configs with their defaults, a cache over the metadata store,
and the changes administrators ask for."""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left, insort
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import NAMESPACE_URL, uuid5

from streamhouse.metadata.base import (
    Change,
    ChangesMissed,
    MetadataStore,
    TopicChange,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
)
from streamhouse.metadata.gil import sharing_the_gil
from streamhouse.protocol.errors import ErrorCode
from streamhouse.storage.cleaner import CleanerSettings

if TYPE_CHECKING:
    from uuid import UUID

    from streamhouse.storage.log import PartitionLog

T = TypeVar("T")

_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# Kafka's internal topics, reserved by name with Kafka's default partition counts
# (offsets.topic.num.partitions, transaction.state.log.num.partitions). Groups and transactions live
# in the metadata store: these stay empty, listed so that clients that look for them find them.
INTERNAL_TOPICS: dict[str, TopicInfo] = {
    name: TopicInfo(uuid5(NAMESPACE_URL, f"streamhouse:internal:{name}"), name, 50)
    for name in ("__consumer_offsets", "__transaction_state")
}
# Built answers kept per topic generation (one per request version and cluster view in use).
MAX_DERIVED_ANSWERS = 64
# Past this many changed topics, the listing is read whole again rather than topic by topic.
MAX_TOPICS_READ_AGAIN = 1000


def is_internal(name: str | None) -> bool:
    return name in INTERNAL_TOPICS


def collision_key(name: str) -> str:
    """Names equal after this collide: Kafka's metric names turn '.' into '_', so it refuses such pairs."""
    return name.replace(".", "_")


def topic_name_error(name: str | None) -> str | None:
    """Why a topic name is invalid (Kafka's rules), or None when it is valid."""
    if not name:
        return "topic name is empty"
    if name in (".", ".."):
        return f"topic name cannot be {name!r}"
    if not _LEGAL_NAME.fullmatch(name):
        return f"topic name {name!r} is longer than 249 characters or has characters other than [a-zA-Z0-9._-]"
    return None


LONG_MAX = str(2**63 - 1)


@dataclass(frozen=True)
class ConfigSpec:
    """A topic config as Kafka's LogConfig defines it: type, default, and what it accepts."""

    default: str
    allowed: tuple[str, ...] | None = None  # STRING and LIST configs: the values accepted
    minimum: float | None = None  # numbers: Kafka's Range validator
    maximum: float | None = None
    kind: str = "long"  # Kafka's type: long, int, double, boolean, string, list
    empty_allowed: bool = False  # a LIST that may be empty

    @property
    def is_list(self) -> bool:
        return self.kind == "list"


_CODECS = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# Every topic config of Apache Kafka 4.x, with Kafka's defaults, types and ranges. Those without an
# effect here are listed in docs/topic-configs.md with the reason.
TOPIC_CONFIGS: dict[str, ConfigSpec] = {
    # An empty list: neither deletion nor compaction (Kafka 4.2), the log is kept whole.
    "cleanup.policy": ConfigSpec("delete", ("compact", "delete"), kind="list", empty_allowed=True),
    "compression.type": ConfigSpec("producer", _CODECS, kind="string"),
    "compression.gzip.level": ConfigSpec("-1", kind="int"),  # 1-9 or -1, checked below
    "compression.lz4.level": ConfigSpec("9", minimum=1, maximum=17, kind="int"),
    "compression.zstd.level": ConfigSpec("3", minimum=-131072, maximum=22, kind="int"),
    "delete.retention.ms": ConfigSpec("86400000", minimum=0),
    "file.delete.delay.ms": ConfigSpec("60000", minimum=0),
    "flush.messages": ConfigSpec(LONG_MAX, minimum=1),
    "flush.ms": ConfigSpec(LONG_MAX, minimum=0),
    "follower.replication.throttled.replicas": ConfigSpec("", kind="list", empty_allowed=True),
    "index.interval.bytes": ConfigSpec("4096", minimum=0, kind="int"),
    "leader.replication.throttled.replicas": ConfigSpec("", kind="list", empty_allowed=True),
    "local.retention.bytes": ConfigSpec("-2", minimum=-2),
    "local.retention.ms": ConfigSpec("-2", minimum=-2),
    "max.compaction.lag.ms": ConfigSpec(LONG_MAX, minimum=1),
    "max.message.bytes": ConfigSpec("1048588", minimum=0, kind="int"),
    "message.downconversion.enable": ConfigSpec("true", kind="boolean"),  # a no-op since Kafka 4.0
    "message.timestamp.after.max.ms": ConfigSpec("3600000", minimum=0),
    "message.timestamp.before.max.ms": ConfigSpec(LONG_MAX, minimum=0),
    # Removed by Kafka 4.0; still accepted (topics set it before), deprecated: docs/topic-configs.md.
    "message.timestamp.difference.max.ms": ConfigSpec(LONG_MAX, minimum=0),
    "message.timestamp.type": ConfigSpec("CreateTime", ("CreateTime", "LogAppendTime"), kind="string"),
    "min.cleanable.dirty.ratio": ConfigSpec("0.5", minimum=0, maximum=1, kind="double"),
    "min.compaction.lag.ms": ConfigSpec("0", minimum=0),
    "min.insync.replicas": ConfigSpec("1", minimum=1, kind="int"),
    "preallocate": ConfigSpec("false", kind="boolean"),
    "remote.log.copy.disable": ConfigSpec("false", kind="boolean"),
    "remote.log.delete.on.disable": ConfigSpec("false", kind="boolean"),
    "remote.storage.enable": ConfigSpec("false", kind="boolean"),
    "retention.bytes": ConfigSpec("-1"),
    "retention.ms": ConfigSpec("604800000", minimum=-1),
    "segment.bytes": ConfigSpec("1073741824", minimum=14, kind="int"),
    "segment.index.bytes": ConfigSpec("10485760", minimum=4, kind="int"),
    "segment.jitter.ms": ConfigSpec("0", minimum=0),
    "segment.ms": ConfigSpec("604800000", minimum=1),
    "unclean.leader.election.enable": ConfigSpec("false", kind="boolean"),
}
_INTEGER_BITS = {"long": 64, "int": 32}


def config_error(name: str, value: str | None) -> str | None:
    """Why a topic config cannot be set to `value` (Kafka's ConfigException message), or None when it can."""
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        return f"unknown topic config {name!r}"
    if value is None:
        return None
    if spec.is_list and spec.allowed is not None:
        # Kafka's ValidList checks each item and names the first it refuses.
        refused = [item for item in (part.strip() for part in value.split(",")) if item and item not in spec.allowed]
        if refused:
            value = refused[0]
    reason = _invalid_reason(name, spec, value.strip())
    return None if reason is None else f"Invalid value {value} for configuration {name}: {reason}"


def _invalid_reason(name: str, spec: ConfigSpec, value: str) -> str | None:
    if spec.kind == "boolean":
        return None if value.lower() in ("true", "false") else "Expected value to be either true or false"
    if spec.kind in ("list", "string"):
        items = [item.strip() for item in value.split(",") if item.strip()] if spec.is_list else [value]
        if not items and not spec.empty_allowed:
            return "Empty list is not allowed"
        if spec.allowed is not None and any(item not in spec.allowed for item in items):
            return f"String must be one of: {', '.join(spec.allowed)}"
        return None
    number: float
    try:
        number = float(value) if spec.kind == "double" else int(value)
    except ValueError:
        return f"Not a number of type {spec.kind.upper()}"
    bits = _INTEGER_BITS.get(spec.kind)
    if bits is not None and not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        return f"Not a number of type {spec.kind.upper()}"
    if name == "compression.gzip.level" and not (number == -1 or 1 <= number <= 9):
        return "Value must be between 1 and 9, or -1"
    # Every bound is a whole number, shown as Kafka's Range shows its Integer and Long bounds.
    if spec.minimum is not None and number < spec.minimum:
        return f"Value must be at least {int(spec.minimum)}"
    if spec.maximum is not None and number > spec.maximum:
        return f"Value must be no more than {int(spec.maximum)}"
    return None


def effective_config(topic: TopicInfo, name: str, broker_defaults: Mapping[str, str]) -> str:
    """A topic config's value: set on the topic, else the broker's default, else Kafka's."""
    # Present but empty counts: an empty cleanup.policy is a policy of its own.
    if name in topic.configs:
        return topic.configs[name]
    return broker_defaults.get(name) or TOPIC_CONFIGS[name].default


def cleaner_settings(topic: TopicInfo, broker_defaults: Mapping[str, str]) -> CleanerSettings:
    """The topic's configs that drive the log cleaner."""

    def number(name: str) -> int:
        return int(effective_config(topic, name, broker_defaults))

    return CleanerSettings(
        segment_ms=number("segment.ms"),
        segment_bytes=number("segment.bytes"),
        min_compaction_lag_ms=number("min.compaction.lag.ms"),
        max_compaction_lag_ms=number("max.compaction.lag.ms"),
        min_cleanable_dirty_ratio=float(effective_config(topic, "min.cleanable.dirty.ratio", broker_defaults)),
        delete_retention_ms=number("delete.retention.ms"),
    )


def timestamp_limits_ms(topic: TopicInfo, broker_defaults: Mapping[str, str]) -> tuple[int, int]:
    """message.timestamp.before.max.ms and after.max.ms; either one not set on the topic takes the
    deprecated message.timestamp.difference.max.ms where the topic still sets that (Kafka 3.6-3.9's rule)."""
    limits = []
    for name in ("message.timestamp.before.max.ms", "message.timestamp.after.max.ms"):
        fallback = name not in topic.configs and "message.timestamp.difference.max.ms" in topic.configs
        limits.append(
            int(effective_config(topic, "message.timestamp.difference.max.ms" if fallback else name, broker_defaults))
        )
    return limits[0], limits[1]


def cleanup_policies(topic: TopicInfo, broker_defaults: Mapping[str, str]) -> set[str]:
    """The topic's cleanup.policy items: "delete" (retention applies), "compact" (records need keys)."""
    value = effective_config(topic, "cleanup.policy", broker_defaults)
    return {item.strip() for item in value.split(",") if item.strip()}


def _stored_by_name(topics: list[TopicInfo]) -> dict[str, TopicInfo]:
    """The stored topics by name, in their order, Kafka's internal ones left out."""
    return {topic.name: topic for topic in sharing_the_gil(topics) if not is_internal(topic.name)}


class TopicCache:
    """Topic look-ups by name and id, cached; the metadata store's change reports invalidate it.

    Those reports cover other brokers' topic changes too (with PostgreSQL); this broker's
    handlers also put or forget what they changed.
    """

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self._by_name: dict[str, TopicInfo] = {}
        # The name each id was last seen under, so that requests naming topics by id (Fetch v13+)
        # find them in the cache; a stale entry is caught by comparing the ids.
        self._names_by_id: dict[UUID, str] = {}
        # Bumped by every topic change this broker makes or hears of: what was built from the
        # listing is kept only for the generation it was built in.
        self.generation = 0
        # Every stored topic by name, read whole once; after that only the names in `_stale` (those
        # change reports named) are read again, as a whole read of tens of thousands of topics is long.
        self._listed: dict[str, TopicInfo] | None = None
        self._listed_names: list[str] = []  # in name order, as the store lists them
        self._stale: set[str] = set()
        self._listing: list[TopicInfo] | None = None
        self._listing_lock = asyncio.Lock()
        self._derived: dict[Hashable, tuple[int, asyncio.Future[Any]]] = {}
        self._last_derived: dict[Hashable, Any] = {}
        # Names that may exist, by collision key: grown by every change heard of, so a name found
        # here is checked in the store before a new name is refused for colliding with it.
        self._maybe_names: dict[str, set[str]] | None = None
        metadata.cluster.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        if isinstance(change, ChangesMissed):
            self._by_name.clear()
            self._names_by_id.clear()
            self._maybe_names = None
            self._listed = None
            self.generation += 1
        elif isinstance(change, TopicChange):
            self.forget(change.name)
            self._may_exist(change.name)

    def _may_exist(self, name: str) -> None:
        if self._maybe_names is not None:
            self._maybe_names.setdefault(collision_key(name), set()).add(name)

    async def get(self, name: str) -> TopicInfo | None:
        internal = INTERNAL_TOPICS.get(name)
        if internal is not None:
            return internal
        topic = self._by_name.get(name)
        if topic is None:
            topic = await self.metadata.topics.get_topic(name)
            if topic is not None:
                self._by_name[name] = topic
                self._names_by_id[topic.topic_id] = name
        return topic

    async def fresh(self, name: str) -> TopicInfo | None:
        """A topic read from the metadata store, not the cache (another broker may have changed it)."""
        if is_internal(name):
            return INTERNAL_TOPICS[name]
        topic = await self.metadata.topics.get_topic(name)
        if topic is None:
            self.forget(name)
        else:
            self.put(topic)
        return topic

    async def get_by_id(self, topic_id: UUID) -> TopicInfo | None:
        """A topic by id: through the cache when its name is known, else from the metadata store."""
        name = self._names_by_id.get(topic_id)
        if name is not None:
            cached = await self.get(name)
            if cached is not None and cached.topic_id == topic_id:
                return cached
        topic = await self.metadata.topics.get_topic_by_id(topic_id)
        if topic is not None:
            self.put(topic)
        return topic

    async def create(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        """Create a topic; if another request created it first, return that one."""
        try:
            topic = await self.metadata.topics.create_topic(name, partitions, configs)
        except TopicExistsError:
            existing = await self.metadata.topics.get_topic(name)
            if existing is None:
                raise
            topic = existing
        self.put(topic)
        return topic

    async def colliding(self, name: str) -> str | None:
        """An existing topic whose name collides with `name` on '.' and '_' (Kafka refuses the pair), or None."""
        key = collision_key(name)
        internal = next((other for other in INTERNAL_TOPICS if collision_key(other) == key and other != name), None)
        if internal is not None:
            return internal
        if self._maybe_names is None:
            names: dict[str, set[str]] = {}
            for topic in await self.all():
                names.setdefault(collision_key(topic.name), set()).add(topic.name)
            self._maybe_names = names
        for other in sorted(self._maybe_names.get(key, set()) - {name}):
            if await self.fresh(other) is not None:
                return other
        return None

    async def resolve(
        self, name: str, auto_create_partitions: int | None, may_create: Callable[[str], bool] | None = None
    ) -> tuple[TopicInfo | None, ErrorCode]:
        """A topic by name, created with that many partitions when absent and a count is given.

        Errors: INVALID_TOPIC_EXCEPTION for a bad name; UNKNOWN_TOPIC_OR_PARTITION when absent;
        TOPIC_AUTHORIZATION_FAILED when it would be created but `may_create(name)` refuses.
        """
        if topic_name_error(name) is not None:
            return None, ErrorCode.INVALID_TOPIC_EXCEPTION
        topic = await self.get(name)
        if topic is None and auto_create_partitions is not None:
            if may_create is not None and not may_create(name):
                return None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
            if await self.colliding(name) is not None:
                return None, ErrorCode.INVALID_TOPIC_EXCEPTION
            topic = await self.create(name, auto_create_partitions, {})
        if topic is None:
            return None, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return topic, ErrorCode.NONE

    def put(self, topic: TopicInfo) -> None:
        self._by_name[topic.name] = topic
        self._names_by_id[topic.topic_id] = topic.name
        self._may_exist(topic.name)
        if self._listed is None and self._listing_lock.locked():  # the listing being read may predate it
            self._stale.add(topic.name)
        self._relist(topic.name, topic)
        self.generation += 1

    def forget(self, name: str) -> None:
        """The topic may have changed or gone: read it again when next needed."""
        self._by_name.pop(name, None)
        if self._listed is not None or self._listing_lock.locked():  # a read under way may predate the change
            self._stale.add(name)
        self.generation += 1

    def _relist(self, name: str, topic: TopicInfo | None) -> None:
        if self._listed is None or is_internal(name):
            return
        if topic is None:
            if self._listed.pop(name, None) is not None:
                del self._listed_names[bisect_left(self._listed_names, name)]
        else:
            if name not in self._listed:
                insort(self._listed_names, name)
            self._listed[name] = topic
        self._listing = None

    async def all(self) -> list[TopicInfo]:
        """Every stored topic (not the internal ones), in name order; after a change only the changed
        topics are read from the store again."""
        async with self._listing_lock:
            if self._listed is None or len(self._stale) > MAX_TOPICS_READ_AGAIN:
                self._stale.clear()
                stored = await self.metadata.topics.list_topics()
                self._listed = await asyncio.to_thread(_stored_by_name, stored)
                self._listed_names = list(self._listed)
                self._by_name.update(self._listed)
                self._listing = None
            listed = self._listed  # kept even if missed changes drop it meanwhile: the next call reads anew
            while self._stale:
                name = self._stale.pop()
                self._relist(name, await self.metadata.topics.get_topic(name))
            if self._listing is not None:
                return self._listing
            generation, names = self.generation, list(self._listed_names)
            listing = await asyncio.to_thread(lambda: [listed[name] for name in sharing_the_gil(names)])
            if self.generation == generation:  # no topic put meanwhile
                self._listing = listing
            return listing

    async def derived(self, key: Hashable, build: Callable[[list[TopicInfo], T | None], T]) -> T:
        """`build(all topics, what it built last for this key or None)`, run in a worker thread (it may
        be long), and kept until a topic changes. The last result lets a build redo only what changed.

        Requests asking the same while it is built share the one build.
        """
        generation = self.generation
        kept = self._derived.get(key)
        if kept is None or kept[0] != generation:
            if len(self._derived) >= MAX_DERIVED_ANSWERS:
                self._derived = {k: v for k, v in self._derived.items() if v[0] == generation}
                self._last_derived = {k: v for k, v in self._last_derived.items() if k in self._derived}
            future: asyncio.Future[T] = asyncio.ensure_future(self._build(key, build))
            kept = self._derived[key] = (generation, future)
            future.add_done_callback(lambda done: self._build_done(key, done))
        result: T = await asyncio.shield(kept[1])
        return result

    async def _build(self, key: Hashable, build: Callable[[list[TopicInfo], T | None], T]) -> T:
        return await asyncio.to_thread(build, await self.all(), self._last_derived.get(key))

    def _build_done(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        kept = self._derived.get(key)
        if done.cancelled() or done.exception() is not None:
            if kept is not None and kept[1] is done:
                del self._derived[key]  # the next request tries again
        elif kept is not None and kept[1] is done:
            self._last_derived[key] = done.result()


class TopicAdmin:
    """Topic changes administrators ask for: made in the metadata store, then in this broker's cached
    views of the topic at once (the store's change reports reach them only later)."""

    def __init__(self, metadata: MetadataStore, cache: TopicCache, log: PartitionLog) -> None:
        self.metadata = metadata
        self.cache = cache
        self.log = log

    async def create(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        """TopicExistsError if the name is taken."""
        return await self._changed(name, self.metadata.topics.create_topic(name, partitions, configs))

    async def delete(self, name: str) -> TopicInfo | None:
        """The deleted topic; None if there was none of that name."""
        try:
            topic = await self.metadata.topics.delete_topic(name)
        except UnknownTopicError:
            return None
        finally:
            self.cache.forget(name)
        self.log.forget_topic(topic.topic_id)
        return topic

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        """Grow the topic to `count` partitions: UnknownTopicError, InvalidPartitionsError."""
        return await self._changed(name, self.metadata.topics.add_partitions(name, count))

    async def set_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        """Replace the topic's explicitly set configs: UnknownTopicError."""
        return await self._changed(name, self.metadata.topics.set_topic_configs(name, configs))

    async def _changed(self, name: str, change: Awaitable[TopicInfo]) -> TopicInfo:
        """The topic as the change left it, cached; a topic found unknown is forgotten."""
        try:
            topic = await change
        except UnknownTopicError:
            self.cache.forget(name)
            raise
        self.cache.put(topic)
        return topic
