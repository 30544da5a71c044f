"""`streamhouse groups describe` for a share group: its members and each share-partition's start offset and lag."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamhouse.broker.client import BrokerConnection, ClientError, find_coordinator
from streamhouse.protocol.apis.describe_share_group_offsets import DESCRIBE_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.share_group_describe import SHARE_GROUP_DESCRIBE
from streamhouse.protocol.errors import ErrorCode


@dataclass(frozen=True)
class ShareMemberView:
    member_id: str
    client_id: str
    client_host: str
    partitions: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SharePartitionView:
    topic: str
    partition: int
    start_offset: int
    lag: int


@dataclass(frozen=True)
class ShareGroupView:
    group_id: str
    state: str
    group_epoch: int
    members: tuple[ShareMemberView, ...]
    partitions: tuple[SharePartitionView, ...]


def describe_share_group(bootstrap: str, group_id: str) -> ShareGroupView | None:
    """The share group as its coordinator sees it; None when the group is not a share group."""
    with BrokerConnection(bootstrap) as connection:
        address = find_coordinator(connection, group_id)
        if address == connection.address:
            return _describe(connection, group_id)
        with BrokerConnection(address) as coordinator:
            return _describe(coordinator, group_id)


def _describe(connection: BrokerConnection, group_id: str) -> ShareGroupView | None:
    try:
        connection.version_for(SHARE_GROUP_DESCRIBE)
    except ClientError:
        return None  # a broker without share groups
    _, described = connection.call(
        SHARE_GROUP_DESCRIBE, SHARE_GROUP_DESCRIBE.Request(group_ids=[group_id], include_authorized_operations=False)
    )
    [group] = described.groups
    if group.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return None
    if group.error_code:
        raise ClientError(f"ShareGroupDescribe of {group_id}: {ErrorCode(group.error_code).name}")
    request_group = DESCRIBE_SHARE_GROUP_OFFSETS.Request.DescribeShareGroupOffsetsRequestGroup
    _, offsets = connection.call(
        DESCRIBE_SHARE_GROUP_OFFSETS,
        DESCRIBE_SHARE_GROUP_OFFSETS.Request(groups=[request_group(group_id=group_id, topics=None)]),
    )
    members = tuple(
        ShareMemberView(
            m.member_id,
            m.client_id,
            m.client_host,
            tuple((t.topic_name, p) for t in m.assignment.topic_partitions for p in t.partitions),
        )
        for m in group.members
    )
    partitions = tuple(
        SharePartitionView(t.topic_name, p.partition_index, p.start_offset, p.lag)
        for g in offsets.groups
        for t in g.topics
        for p in t.partitions
    )
    return ShareGroupView(group_id, group.group_state, group.group_epoch, members, partitions)


def share_describe_text(view: ShareGroupView, table: Callable[[Sequence[str], Sequence[Sequence[object]]], str]) -> str:
    lines = [f"Share group {view.group_id} ({view.state}, epoch {view.group_epoch}), {len(view.members)} members", ""]
    if view.members:
        members = [
            (m.member_id, m.client_id, m.client_host, ",".join(f"{t}-{p}" for t, p in m.partitions))
            for m in view.members
        ]
        lines += [table(("MEMBER", "CLIENT-ID", "HOST", "PARTITIONS"), members), ""]
    partitions = [(p.topic, p.partition, p.start_offset, p.lag) for p in view.partitions]
    lines.append(table(("TOPIC", "PARTITION", "START-OFFSET", "LAG"), partitions))
    return "\n".join(lines)
