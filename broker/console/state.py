"""What the console shows, read through the broker's services (topics, log, groups, transactions, cluster)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamhouse.broker.client import GroupView, MemberView, PartitionLag
from streamhouse.broker.groups.admin import GroupOverview
from streamhouse.broker.topics import effective_config, is_internal
from streamhouse.metadata.base import PartitionState, TopicInfo
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker


MAX_LISTED = 200  # topics, and groups, on the front page: it stays under 100 KB; a filter finds the others


@dataclass(frozen=True)
class TopicRow:
    topic: TopicInfo
    records: int
    bytes: int
    cleanup: str
    retention_ms: str


@dataclass(frozen=True)
class GroupRow:
    group: GroupOverview
    members: int
    lag: int | None  # None: nothing committed


class ConsoleState:
    """Reads for the pages; `visible(kind, name)` says whether the viewer may describe a resource."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def topics(self, visible: Callable[[str], bool]) -> tuple[list[TopicRow], int]:
        """The first MAX_LISTED visible topics by name, and how many are visible."""
        shown = sorted(
            (t for t in await self.broker.topics.all() if not is_internal(t.name) and visible(t.name)),
            key=lambda t: t.name,
        )
        rows = []
        for topic in shown[:MAX_LISTED]:
            partitions = await self.partitions(topic)
            sizes = await self.broker.log_index.partition_sizes(topic.topic_id)
            defaults = self.broker.broker_defaults
            rows.append(
                TopicRow(
                    topic,
                    sum(p.high_watermark - p.log_start_offset for p in partitions),
                    sum(sizes.values()),
                    effective_config(topic, "cleanup.policy", defaults),
                    effective_config(topic, "retention.ms", defaults),
                )
            )
        return rows, len(shown)

    async def partitions(self, topic: TopicInfo) -> list[PartitionState]:
        """Each partition's log start offset and high watermark, by partition."""
        return [await self.broker.log.state(topic.topic_id, partition) for partition in range(topic.partitions)]

    def group_list(self, visible: Callable[[str], bool]) -> list[GroupOverview]:
        """The groups this broker coordinates."""
        _, groups = self.broker.coordinator.list_groups()
        return [group for group in groups if visible(group.group_id)]

    async def groups(self, visible: Callable[[str], bool]) -> tuple[list[GroupRow], int]:
        """The first MAX_LISTED visible groups by id, and how many are visible."""
        shown = self.group_list(visible)
        rows = []
        for group in shown[:MAX_LISTED]:
            detail = await self.group(group.group_id)
            lags = [row.lag for row in detail.partitions if row.lag is not None]
            rows.append(GroupRow(group, len(detail.members), sum(lags) if lags else None))
        return rows, len(shown)

    async def group(self, group_id: str) -> GroupView:
        """Members, assignments and lag per partition, as `streamhouse groups describe` shows them."""
        _, summary = self.broker.coordinator.describe_group(group_id)
        members = tuple(
            MemberView(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                _assigned(m.assignment) if summary.protocol_type == consumer_protocol.PROTOCOL_TYPE else (),
            )
            for m in summary.members
        )
        error, offsets = await self.broker.coordinator.fetch_offsets(group_id, None)
        committed = (
            {(c.topic, c.partition): c.offset for c in offsets if c.offset >= 0} if error == ErrorCode.NONE else {}
        )
        owners = {tp: member.member_id for member in members for tp in member.partitions}
        rows = []
        for topic_name, partition in sorted(set(owners) | set(committed)):
            topic = await self.broker.topics.get(topic_name)
            high_watermark = None
            if topic is not None and partition < topic.partitions:
                high_watermark = (await self.broker.log.state(topic.topic_id, partition)).high_watermark
            rows.append(
                PartitionLag(
                    topic_name,
                    partition,
                    committed.get((topic_name, partition)),
                    high_watermark,
                    owners.get((topic_name, partition)),
                )
            )
        return GroupView(group_id, summary.state, summary.protocol_type, summary.protocol_name, members, tuple(rows))

    async def transactions(self, visible: Callable[[str], bool]) -> list[tuple[str, int, int, str, int]]:
        """Open transactions this broker coordinates: (id, producer id, epoch, state, started ms)."""
        return [
            (r.transactional_id, r.producer_id, r.producer_epoch, r.state, r.started_ms)
            for r in await self.broker.transactions.coordinated()
            if r.state in ("Ongoing", "PrepareCommit", "PrepareAbort") and visible(r.transactional_id)
        ]

    def brokers(self) -> list[tuple[int, str, str]]:
        """(id, listeners, uptime) of the live brokers; uptime only known for this one."""
        me = self.broker.config.broker_id
        uptime = _duration(time.time() - self.broker.started_at)
        return [
            (
                b.broker_id,
                ", ".join(str(listener) for listener in b.listeners) or f"{b.host}:{b.port}",
                uptime if b.broker_id == me else "",
            )
            for b in self.broker.cluster.brokers
        ]


def _assigned(assignment: bytes) -> tuple[tuple[str, int], ...]:
    if not assignment:
        return ()
    _, decoded = consumer_protocol.decode(consumer_protocol.ASSIGNMENT, assignment)
    return tuple(sorted((tp.topic, p) for tp in decoded.assigned_partitions for p in tp.partitions))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m {secs}s"
