"""KIP-932 share groups: membership (groups.py), share-partition state (partition.py, partitions.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from streamhouse.broker.groups.clock import LoopClock
from streamhouse.broker.share.configs import ShareSettings
from streamhouse.broker.share.groups import ShareGroups
from streamhouse.broker.share.partitions import SharePartitions

if TYPE_CHECKING:
    from streamhouse.broker.config import BrokerConfig
    from streamhouse.broker.groups.table import GroupTable
    from streamhouse.broker.topics import TopicCache
    from streamhouse.metadata.base import MetadataStore


def share_services(
    config: BrokerConfig, table: GroupTable, topics: TopicCache, store: MetadataStore
) -> tuple[ShareGroups, SharePartitions]:
    """The share group coordinator and the share-partitions; a member removed for silence releases its records."""
    clock = LoopClock()
    groups = ShareGroups(
        table,
        topics,
        clock,
        session_timeout_ms=config.group_share_session_timeout_ms,
        heartbeat_interval_ms=config.group_share_heartbeat_interval_ms,
    )
    defaults = ShareSettings(
        lock_duration_ms=config.group_share_record_lock_duration_ms,
        delivery_limit=config.group_share_delivery_count_limit,
        auto_offset_reset="latest",
        read_committed=False,
    )
    partitions = SharePartitions(store, clock, defaults)
    releases: set[asyncio.Task[None]] = set()

    def member_removed(group_id: str, member_id: str) -> None:
        task = asyncio.get_running_loop().create_task(partitions.release_member(group_id, member_id, end_session=True))
        releases.add(task)
        task.add_done_callback(releases.discard)

    groups.member_removed = member_removed
    return groups, partitions
