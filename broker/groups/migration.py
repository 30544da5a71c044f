"""Online migration between classic and KIP-848 consumer groups, as Kafka 4's bidirectional policy.

Upgrade: a consumer-protocol member joins a classic consumer group that has members. The group
becomes a consumer group at once, its generation as the group epoch; each classic member stays,
with its subscription and current assignment, as a classic member at that epoch. Classic members
keep speaking JoinGroup/SyncGroup/Heartbeat/LeaveGroup, answered here from the consumer group's
state: a join reconciles the member towards its target (the partitions it still owns, from its
subscription's owned partitions, count as reported) and is answered at once, with the member epoch
as generation; SyncGroup gives the member's assignment in the consumer protocol's encoding;
Heartbeat answers REBALANCE_IN_PROGRESS (27) while the member is not at the target, so it joins
again. Committed offsets are the group's and stay.

Downgrade: once the last consumer-protocol member leaves (or is removed), a group with classic
members only becomes a classic group again, empty, at the group epoch as generation: the classic
members' next request gets UNKNOWN_MEMBER_ID (25) and they join again as in any classic group.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.groups.consumer_state import (
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    TopicView,
    partitions_of,
)
from streamhouse.broker.groups.state import Group, JoinRequest, JoinResult, SyncResult
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from streamhouse.broker.groups.consumer import ConsumerGroups

log = logging.getLogger(__name__)

CLASSIC_MEMBER_TYPE, CONSUMER_MEMBER_TYPE = 0, 1  # ConsumerGroupDescribe v1's member types


def _subscription(metadata: bytes) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """(subscribed topics, owned partitions by name) of a classic member's consumer protocol metadata."""
    try:
        _, subscription = consumer_protocol.decode(consumer_protocol.SUBSCRIPTION, metadata)
    except ProtocolError:
        return (), []
    owned = [(tp.topic, p) for tp in subscription.owned_partitions or () for p in tp.partitions]
    return tuple(sorted(set(subscription.topics))), owned


def _by_id(owned: list[tuple[str, int]], view: TopicView) -> dict[UUID, frozenset[int]]:
    found: dict[UUID, set[int]] = {}
    for name, partition in owned:
        if name in view:
            found.setdefault(view[name][0], set()).add(partition)
    return {topic: frozenset(partitions) for topic, partitions in found.items()}


def upgrade(groups: ConsumerGroups, classic: Group, view: TopicView) -> ConsumerGroup:
    """The classic group, with its members, as a consumer group (its record stays until the group is saved)."""
    epoch = classic.generation_id
    group = ConsumerGroup(classic.group_id, group_epoch=epoch, assignment_epoch=epoch, assignor=groups.assignors[0])
    for old in classic.members.values():
        metadata = old.metadata(classic.protocol_name) if classic.protocol_name else old.protocols[0][1]
        topics, _ = _subscription(metadata)
        assigned: list[tuple[str, int]] = []
        if old.assignment:
            try:
                _, assignment = consumer_protocol.decode(consumer_protocol.ASSIGNMENT, old.assignment)
                assigned = [(tp.topic, p) for tp in assignment.assigned_partitions for p in tp.partitions]
            except ProtocolError:
                pass
        member = ConsumerMember(
            old.member_id, old.group_instance_id, None, old.client_id, old.client_host, old.rebalance_timeout_ms,
            subscribed_topic_names=topics, member_epoch=epoch, previous_member_epoch=epoch,
            assigned=_by_id(assigned, view), classic_protocols=list(old.protocols),
            classic_session_timeout_ms=old.session_timeout_ms,
        )  # fmt: skip
        group.members[member.member_id] = member
        group.target[member.member_id] = dict(member.assigned)
    classic.unload()  # parked joins and syncs learn to look again; they come back as classic members
    del groups.table.groups[classic.group_id]
    groups.groups[group.group_id] = group
    groups.refresh_topics(group, view)
    for member in group.members.values():
        groups.arm_timers(group, member, was_revoking=False)
    log.info("group %s: classic group of generation %d upgraded to a consumer group", group, epoch)
    return group


def downgrade(groups: ConsumerGroups, group: ConsumerGroup) -> None:
    """Only classic members are left: the group is classic again, empty, its generation the group epoch."""
    for member in group.members.values():
        member.cancel_timers()
    del groups.groups[group.group_id]
    classic = groups.table.groups[group.group_id] = Group(
        group.group_id, protocol_type=consumer_protocol.PROTOCOL_TYPE, generation_id=group.group_epoch
    )
    groups.table.persist(classic)
    store = groups.table.store
    groups.table.write_later(lambda: store.consumer_groups.delete_consumer_group(group.group_id))
    log.info("group %s: downgraded to a classic group at generation %d", group, group.group_epoch)


class ClassicMembers:
    """The classic membership APIs, for the classic members of a consumer group."""

    def __init__(self, groups: ConsumerGroups) -> None:
        self.groups = groups

    def holds(self, group_id: str) -> bool:
        group = self.groups.groups.get(group_id)
        return group is not None and bool(group.members)

    async def join(self, request: JoinRequest) -> JoinResult:
        view = await self.groups.topic_view()
        group = self.groups.groups.get(request.group_id)
        if group is None or not group.members:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, request.member_id)  # it was downgraded meanwhile
        if request.protocol_type != consumer_protocol.PROTOCOL_TYPE or not request.protocols:
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.member_id)
        member = group.members.get(request.member_id) if request.member_id else None
        if request.member_id and member is None:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, request.member_id)
        if member is not None and member.classic_protocols is None:
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.member_id)
        protocol_name, metadata = request.protocols[0]
        topics, owned = _subscription(metadata)
        changed = member is None
        if member is None:
            member_id = f"{(request.group_instance_id or request.client_id)[:32]}-{uuid.uuid4()}"
            member = group.members[member_id] = ConsumerMember(
                member_id, request.group_instance_id, None, request.client_id, request.client_host,
                request.rebalance_timeout_ms,
            )  # fmt: skip
        changed |= member.subscribed_topic_names != topics
        member.subscribed_topic_names = topics
        member.classic_protocols = list(request.protocols)
        member.classic_session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        changed |= self.groups.refresh_topics(group, view)
        if changed:
            group.group_epoch += 1
            self.groups.assign(group)
        was_revoking = member.state is MemberState.UNREVOKED_PARTITIONS
        member.reconcile(
            group.target.get(member.member_id, {}),
            group.assignment_epoch,
            group.owned_by_others(member.member_id),
            _by_id(owned, view),
        )
        self.groups.arm_timers(group, member, was_revoking)
        self.groups.persist(group)
        return JoinResult(
            ErrorCode.NONE, member.member_id, member.member_epoch, consumer_protocol.PROTOCOL_TYPE, protocol_name, ""
        )

    def _member(self, group_id: str, generation_id: int, member_id: str) -> tuple[ConsumerMember | None, ErrorCode]:
        group = self.groups.groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if member is None or member.classic_protocols is None:
            return None, ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id != member.member_epoch:
            return None, ErrorCode.ILLEGAL_GENERATION
        return member, ErrorCode.NONE

    def sync(self, group_id: str, generation_id: int, member_id: str, protocol_name: str | None) -> SyncResult:
        member, error = self._member(group_id, generation_id, member_id)
        if member is None:
            return SyncResult(error)
        group = self.groups.groups[group_id]
        names = {topic_id: name for name, (topic_id, _) in group.topics.items()}
        assigned = consumer_protocol.Assignment(
            assigned_partitions=[
                consumer_protocol.Assignment.TopicPartition(topic=names[topic], partitions=sorted(partitions))
                for topic, partitions in sorted(member.assigned.items())
                if topic in names
            ],
            user_data=None,
        )
        chosen = protocol_name or (member.classic_protocols or [("", b"")])[0][0]
        return SyncResult(
            ErrorCode.NONE, consumer_protocol.encode(consumer_protocol.ASSIGNMENT, assigned, 0), "consumer", chosen
        )

    def heartbeat(self, group_id: str, generation_id: int, member_id: str) -> ErrorCode:
        member, error = self._member(group_id, generation_id, member_id)
        if member is None:
            return error
        group = self.groups.groups[group_id]
        self.groups.arm_timers(group, member, member.state is MemberState.UNREVOKED_PARTITIONS)
        at_target = member.state is MemberState.STABLE and member.member_epoch == group.assignment_epoch
        wanted = partitions_of(group.target.get(member.member_id, {}))
        return (
            ErrorCode.NONE
            if at_target and partitions_of(member.assigned) == wanted
            else ErrorCode.REBALANCE_IN_PROGRESS
        )

    def leave(self, group_id: str, leaving: Sequence[tuple[str, str | None]]) -> tuple[ErrorCode, list[ErrorCode]]:
        group = self.groups.groups.get(group_id)
        errors = []
        for member_id, instance_id in leaving:
            member = None
            if group is not None and self.groups.groups.get(group_id) is group:
                member = group.members.get(member_id) or (
                    group.static_member(instance_id) if instance_id is not None else None
                )
            if member is None:
                errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            assert group is not None
            self.groups.remove(group, member)
            self.groups.persist(group)
            errors.append(ErrorCode.NONE)
        return ErrorCode.NONE, errors
