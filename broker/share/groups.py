"""KIP-932 share groups (ShareGroupHeartbeat, ShareGroupDescribe): membership and assignment.

A member joins with epoch 0 and a member id of its own making, heartbeats with the epoch it was last
given and leaves with -1. A change of membership or subscription bumps the group epoch and assigns
again at once, by Kafka's simple share assignor: a partition may go to several members (when there are
more members than partitions), and the share-partitions (broker/share/partitions.py) hand each of
its records to one of them. A member silent for --group-share-session-timeout-ms is removed and its acquired records are
released. Members live on the coordinator only (placed by the same hashing as every group): after a
failover they rejoin, while the share-partitions' states are in the metadata store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.groups.assignors import Assignment
from streamhouse.broker.groups.clock import Clock, LoopClock, Timer
from streamhouse.broker.groups.consumer_state import LEAVE_EPOCH, TopicView, topic_view
from streamhouse.broker.groups.table import GroupTable
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.topics import TopicCache

log = logging.getLogger(__name__)

GROUP_TYPE = "share"
ASSIGNOR_NAME = "simple"


@dataclass
class ShareMember:
    member_id: str
    member_epoch: int
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...] = ()
    assigned: Assignment = field(default_factory=dict)
    session_timer: Timer | None = None


@dataclass
class ShareGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ShareMember] = field(default_factory=dict)
    topics: TopicView = field(default_factory=dict)  # the subscribed topics that exist

    @property
    def state(self) -> str:
        return "Stable" if self.members else "Empty"


@dataclass(frozen=True)
class ShareHeartbeatCall:
    group_id: str
    member_id: str
    member_epoch: int
    rack_id: str | None
    subscribed_topic_names: tuple[str, ...] | None
    client_id: str
    client_host: str


@dataclass(frozen=True)
class ShareHeartbeatAnswer:
    error: ErrorCode
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


class _RefusedError(Exception):
    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


class ShareGroups:
    """The share groups this broker coordinates, beside the classic and consumer groups of the same GroupTable."""

    def __init__(
        self,
        table: GroupTable,
        topics: TopicCache,
        clock: Clock | None = None,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 5000,
    ) -> None:
        self.table = table
        self.topics = topics
        self.clock = clock or LoopClock()
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.groups: dict[str, ShareGroup] = {}
        self._stored_loaded = False
        # Called with (group id, member id) when a member is removed for silence: its records are released.
        # One that leaves closes its share sessions itself, which releases them after its last
        # acknowledgements (its leave may arrive first).
        self.member_removed: Callable[[str, str], None] = lambda group_id, member_id: None

    async def load_stored(self) -> None:
        """Once: the groups with stored share-partitions exist (Empty) though no member has come back yet."""
        if not self._stored_loaded:
            for group_id in await self.table.store.share_states.list_share_group_ids():
                self.groups.setdefault(group_id, ShareGroup(group_id))
            self._stored_loaded = True

    def owned(self) -> list[ShareGroup]:
        """The share groups this broker coordinates now, by group id."""
        return [g for _, g in sorted(self.groups.items()) if self.table.status_error(g.group_id) is None]

    async def heartbeat(self, call: ShareHeartbeatCall) -> ShareHeartbeatAnswer:
        try:
            self._check(call)
            view = await topic_view(self.topics)
            return self._heartbeat(call, view)
        except _RefusedError as refused:
            return ShareHeartbeatAnswer(refused.error, refused.message, member_epoch=call.member_epoch)

    def _check(self, call: ShareHeartbeatCall) -> None:
        if not call.group_id:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if not call.member_id:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if call.member_epoch < LEAVE_EPOCH:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, f"MemberEpoch {call.member_epoch} is invalid.")
        if call.member_epoch == 0 and not call.subscribed_topic_names:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, "SubscribedTopicNames must be set in first request.")
        if (error := self.table.status_error(call.group_id)) is not None:
            raise _RefusedError(error, f"This broker does not coordinate group {call.group_id} now.")
        if call.group_id in self.table.groups or call.group_id in self.table.consumer_groups:
            raise _RefusedError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {call.group_id} is not a share group.")

    def _heartbeat(self, call: ShareHeartbeatCall, view: TopicView) -> ShareHeartbeatAnswer:
        group = self.groups.get(call.group_id)
        if group is None:
            if call.member_epoch != 0:
                raise _RefusedError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
            group = self.groups[call.group_id] = ShareGroup(call.group_id)
        if call.member_epoch == LEAVE_EPOCH:
            member = group.members.get(call.member_id)
            if member is None:
                raise _RefusedError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
            self.remove(group, member, removed=False)
            return ShareHeartbeatAnswer(ErrorCode.NONE, member_id=call.member_id, member_epoch=LEAVE_EPOCH)
        member = group.members.get(call.member_id)
        joined = call.member_epoch == 0
        if member is None:
            if not joined:
                raise _RefusedError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
            member = group.members[call.member_id] = ShareMember(
                call.member_id, 0, call.rack_id, call.client_id, call.client_host
            )
        elif not joined and call.member_epoch != member.member_epoch:
            raise _RefusedError(ErrorCode.FENCED_MEMBER_EPOCH, "The share group member has a different member epoch.")
        changed = joined and member.member_epoch == 0
        if call.subscribed_topic_names is not None:
            names = tuple(sorted(set(call.subscribed_topic_names)))
            changed |= names != member.subscribed_topic_names
            member.subscribed_topic_names = names
        if call.rack_id is not None:
            member.rack_id = call.rack_id
        subscribed = {n for m in group.members.values() for n in m.subscribed_topic_names}
        topics = {name: view[name] for name in sorted(subscribed) if name in view}
        changed |= topics != group.topics
        group.topics = topics
        before = member.assigned
        if changed:
            group.group_epoch += 1
            self._assign(group)
        self._arm(group, member)
        return ShareHeartbeatAnswer(
            ErrorCode.NONE,
            member_id=member.member_id,
            member_epoch=member.member_epoch,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            assignment=dict(member.assigned) if joined or member.assigned != before else None,
        )

    @staticmethod
    def _assign(group: ShareGroup) -> None:
        """Kafka's simple share assignor, per topic: with no more members than partitions each partition goes
        to one member (round robin, members by id), with more each member gets one partition (so every
        partition has several members)."""
        assigned: dict[str, dict[UUID, set[int]]] = {member_id: {} for member_id in group.members}
        for name, (topic_id, count) in group.topics.items():
            members = sorted(m.member_id for m in group.members.values() if name in m.subscribed_topic_names)
            if not members or not count:
                continue
            if len(members) <= count:
                pairs = [(members[p % len(members)], p) for p in range(count)]
            else:
                pairs = [(member_id, index % count) for index, member_id in enumerate(members)]
            for member_id, partition in pairs:
                assigned[member_id].setdefault(topic_id, set()).add(partition)
        for member in group.members.values():
            member.assigned = {topic_id: frozenset(p) for topic_id, p in assigned[member.member_id].items()}
            member.member_epoch = group.group_epoch
        group.assignment_epoch = group.group_epoch

    def _arm(self, group: ShareGroup, member: ShareMember) -> None:
        if member.session_timer is not None:
            member.session_timer.cancel()
        member.session_timer = self.clock.call_later(self.session_timeout_ms, lambda: self._expire(group, member))

    def _expire(self, group: ShareGroup, member: ShareMember) -> None:
        if self.groups.get(group.group_id) is group and group.members.get(member.member_id) is member:
            log.info("share group %s: member %s removed (session timeout)", group.group_id, member.member_id)
            self.remove(group, member, removed=True)

    def remove(self, group: ShareGroup, member: ShareMember, removed: bool) -> None:
        if member.session_timer is not None:
            member.session_timer.cancel()
        del group.members[member.member_id]
        group.group_epoch += 1
        self._assign(group)
        if removed:
            self.member_removed(group.group_id, member.member_id)

    def describe(self, group_id: str) -> tuple[ErrorCode, str | None, ShareGroup | None]:
        if (error := self.table.status_error(group_id)) is not None:
            return error, None, None
        group = self.groups.get(group_id)
        if group is None:
            if group_id in self.table.groups or group_id in self.table.consumer_groups:
                return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group.", None
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.", None
        return ErrorCode.NONE, None, group

    def is_member(self, group_id: str, member_id: str) -> bool | None:
        """Whether the member belongs to the group; None when this broker does not coordinate the group."""
        if self.table.status_error(group_id) is not None:
            return None
        group = self.groups.get(group_id)
        return group is not None and member_id in group.members
