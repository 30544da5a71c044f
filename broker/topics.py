"""Topics as the broker sees them: names, configs with their defaults, a cache over the metadata store,
and the changes administrators ask for."""

from __future__ import annotations

import asyncio
import re
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
from streamhouse.protocol.errors import ErrorCode

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


@dataclass(frozen=True)
class ConfigSpec:
    default: str
    allowed: tuple[str, ...] | None = None  # None: any integer
    minimum: int = -1
    is_list: bool = False  # a comma-separated list of at least one allowed value (Kafka's LIST type)


# Topic configs we honour or accept, with Kafka's defaults.
TOPIC_CONFIGS: dict[str, ConfigSpec] = {
    "cleanup.policy": ConfigSpec("delete", ("delete", "compact"), is_list=True),
    "retention.ms": ConfigSpec("604800000"),
    "retention.bytes": ConfigSpec("-1"),
    "max.message.bytes": ConfigSpec("1048588", minimum=0),
    "message.timestamp.type": ConfigSpec("CreateTime", ("CreateTime", "LogAppendTime")),
    "segment.bytes": ConfigSpec("1073741824", minimum=14),
    "segment.ms": ConfigSpec("604800000", minimum=1),
    "min.insync.replicas": ConfigSpec("1", minimum=1),
    "compression.type": ConfigSpec("producer", ("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")),
    "delete.retention.ms": ConfigSpec("86400000", minimum=0),
    "min.compaction.lag.ms": ConfigSpec("0", minimum=0),
    "message.timestamp.difference.max.ms": ConfigSpec("9223372036854775807", minimum=0),
    "message.timestamp.before.max.ms": ConfigSpec("9223372036854775807", minimum=0),
    "message.timestamp.after.max.ms": ConfigSpec("3600000", minimum=0),
    "unclean.leader.election.enable": ConfigSpec("false", ("true", "false")),
}


def config_error(name: str, value: str | None) -> str | None:
    """Why a topic config cannot be set to `value`, or None when it can."""
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        return f"unknown topic config {name!r}"
    if value is None:
        return None
    if spec.allowed is not None:
        items = [item.strip() for item in value.split(",")] if spec.is_list else [value]
        if any(item not in spec.allowed for item in items):
            kind = "a comma-separated list of" if spec.is_list else "one of"
            return f"{name} must be {kind} {', '.join(spec.allowed)}"
        return None
    try:
        number = int(value)
    except ValueError:
        return f"{name} must be an integer"
    if number < spec.minimum:
        return f"{name} must be at least {spec.minimum}"
    return None


def effective_config(topic: TopicInfo, name: str, broker_defaults: Mapping[str, str]) -> str:
    """A topic config's value: set on the topic, else the broker's default, else Kafka's."""
    return topic.configs.get(name) or broker_defaults.get(name) or TOPIC_CONFIGS[name].default


def cleanup_policies(topic: TopicInfo, broker_defaults: Mapping[str, str]) -> set[str]:
    """The topic's cleanup.policy items: "delete" (retention applies), "compact" (records need keys)."""
    return {item.strip() for item in effective_config(topic, "cleanup.policy", broker_defaults).split(",")}


class TopicCache:
    """Topic look-ups by name and id, cached; the metadata store's change reports invalidate it.

    Those reports cover other brokers' topic changes too (with PostgreSQL); this broker's
    handlers also put or forget what they changed.
    """

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self._by_name: dict[str, TopicInfo] = {}
        # Bumped by every topic change this broker makes or hears of: the listing and what was
        # built from it are kept only for the generation they were read in.
        self.generation = 0
        self._listing: tuple[int, list[TopicInfo]] | None = None
        self._derived: dict[Hashable, tuple[int, asyncio.Future[Any]]] = {}
        # Names that may exist, by collision key: grown by every change heard of, so a name found
        # here is checked in the store before a new name is refused for colliding with it.
        self._maybe_names: dict[str, set[str]] | None = None
        metadata.cluster.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        if isinstance(change, ChangesMissed):
            self._by_name.clear()
            self._maybe_names = None
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
        """A topic by id, read from the metadata store (requests name topics by id rarely)."""
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
        self._may_exist(topic.name)
        self.generation += 1

    def forget(self, name: str) -> None:
        self._by_name.pop(name, None)
        self.generation += 1

    async def all(self) -> list[TopicInfo]:
        """Every stored topic (not the internal ones); read again from the store only after a change."""
        generation = self.generation
        if self._listing is not None and self._listing[0] == generation:
            return self._listing[1]
        stored = await self.metadata.topics.list_topics()
        topics = [topic for topic in stored if not is_internal(topic.name)]
        if self.generation == generation:
            self._by_name.update((topic.name, topic) for topic in stored)
            self._listing = (generation, topics)
        return topics

    async def derived(self, key: Hashable, build: Callable[[list[TopicInfo]], T]) -> T:
        """`build(all topics)`, run in a worker thread (it may be long), and kept until a topic changes.

        Requests asking the same while it is built share the one build.
        """
        generation = self.generation
        kept = self._derived.get(key)
        if kept is None or kept[0] != generation:
            if len(self._derived) >= MAX_DERIVED_ANSWERS:
                self._derived = {k: v for k, v in self._derived.items() if v[0] == generation}
            future: asyncio.Future[T] = asyncio.ensure_future(self._build(build))
            kept = self._derived[key] = (generation, future)
            future.add_done_callback(lambda done: self._build_done(key, done))
        result: T = await asyncio.shield(kept[1])
        return result

    async def _build(self, build: Callable[[list[TopicInfo]], T]) -> T:
        return await asyncio.to_thread(build, await self.all())

    def _build_done(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            kept = self._derived.get(key)
            if kept is not None and kept[1] is done:
                del self._derived[key]  # the next request tries again


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
