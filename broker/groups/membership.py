"""The members' requests: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, and who may commit offsets."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence

from streamhouse.broker.groups.clock import Clock
from streamhouse.broker.groups.rebalance import Rebalancer
from streamhouse.broker.groups.state import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    Group,
    JoinRequest,
    JoinResult,
    Member,
    SyncResult,
    answered,
    resolve,
)
from streamhouse.broker.groups.table import GroupTable
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

# Kafka's defaults for group.min.session.timeout.ms (a flag here) and group.max.session.timeout.ms.
MIN_SESSION_TIMEOUT_MS = 6_000
MAX_SESSION_TIMEOUT_MS = 1_800_000
# A new member's join is parked at most this long: until it has joined it cannot heartbeat, and a
# client that gave up and retried would otherwise leave a defunct member behind (Kafka's value).
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
# A member id is its client id (or group instance id) and a UUID, as Kafka makes it; the id part is
# cut to this many characters so that a client cannot make every member id it is given huge.
MEMBER_ID_PREFIX_LENGTH = 255


def _commit_error(
    group: Group, generation_id: int, member_id: str, group_instance_id: str | None, transactional: bool
) -> ErrorCode | None:
    if group.state is DEAD:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if generation_id < 0 and group.state is EMPTY:
        return None  # an admin client, or a consumer without group management
    if generation_id < 0 and not member_id and group_instance_id is None:
        # A transactional producer of TxnOffsetCommit v0-2 sends no member: Kafka takes its offsets
        # unchecked; only members commit otherwise to a group that has some.
        return None if transactional else ErrorCode.UNKNOWN_MEMBER_ID
    error = group.generation_error(generation_id, member_id, group_instance_id)
    if error is None and group.state is COMPLETING and not transactional:
        # A member of the new generation that has not synced yet: its assignment may change.
        return ErrorCode.REBALANCE_IN_PROGRESS
    return error


class Membership:
    """Checks each member request against its group and moves the group's state machine on."""

    def __init__(self, table: GroupTable, rebalancer: Rebalancer, clock: Clock, min_session_timeout_ms: int) -> None:
        self.table = table
        self.rebalancer = rebalancer
        self.clock = clock
        self.min_session_timeout_ms = min_session_timeout_ms

    # -- JoinGroup ---------------------------------------------------------------

    def join_group(self, request: JoinRequest) -> asyncio.Future[JoinResult]:
        """The join's answer: at once, or when the rebalance completes."""
        error = self.table.status_error(request.group_id)
        if error is None and not self.min_session_timeout_ms <= request.session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            error = ErrorCode.INVALID_SESSION_TIMEOUT
        if error is not None:
            return answered(JoinResult(error, request.member_id))
        groups = self.table.groups
        group = groups.get(request.group_id)
        created = group is None
        if group is None:
            # A group is created by a first join only; a member id for an unknown group is stale.
            if request.member_id:
                return answered(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, request.member_id))
            group = groups[request.group_id] = Group(request.group_id)
        waiter: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        if request.member_id:
            self._join_current_member(group, request, waiter)
        else:
            self._join_new_member(group, request, waiter)
        if group.state is PREPARING:
            self.rebalancer.maybe_complete_join(group)
        if created and group.state is EMPTY and not group.pending_members:
            del groups[group.group_id]  # a refused first join leaves no group behind
        return waiter

    def _join_new_member(self, group: Group, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        if group.state is DEAD:
            resolve(waiter, JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, ""))
            return
        if not group.supports(request.protocol_type, request.protocols):
            resolve(waiter, JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, ""))
            return
        member_id = f"{(request.group_instance_id or request.client_id)[:MEMBER_ID_PREFIX_LENGTH]}-{uuid.uuid4()}"
        instance_id = request.group_instance_id
        if instance_id is not None and instance_id in group.static_members:
            self._replace_static_member(group, group.static_members[instance_id], member_id, request, waiter)
        elif instance_id is None and request.require_known_member_id:
            # KIP-394: the member must come back with this id, so a retried join cannot leave a
            # ghost member behind; it is forgotten if it does not within its session timeout.
            group.pending_members[member_id] = self.clock.call_later(
                request.session_timeout_ms, lambda: self.rebalancer.expire_pending_member(group, member_id)
            )
            resolve(waiter, JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id))
        else:
            self._add_member_and_rebalance(group, member_id, request, waiter)

    def _join_current_member(self, group: Group, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        member_id = request.member_id
        if group.state is DEAD:
            resolve(waiter, JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id))
            return
        if not group.supports(request.protocol_type, request.protocols):
            resolve(waiter, JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id))
            return
        if member_id in group.pending_members and request.group_instance_id is None:
            self._add_member_and_rebalance(group, member_id, request, waiter)
            return
        error = group.member_error(member_id, request.group_instance_id)
        if error is not None:
            resolve(waiter, JoinResult(error, member_id))
            return
        # A known member, so the group has members: PreparingRebalance, CompletingRebalance or Stable.
        member = group.members[member_id]
        if group.state is PREPARING:
            self._update_member_and_rebalance(group, member, request, waiter)
        elif group.state is COMPLETING:
            if member.matches(request.protocols):
                # The member lost the join answer (a retry): tell it the same generation again.
                resolve(waiter, group.join_result(member_id))
            else:
                self._update_member_and_rebalance(group, member, request, waiter)
        elif group.leader_id == member_id or not member.matches(request.protocols):
            # Stable. A leader's join forces a rebalance: it lets the leader react to changes that
            # do not touch its metadata (a subscribed topic gaining partitions).
            self._update_member_and_rebalance(group, member, request, waiter)
        else:
            resolve(waiter, group.join_result(member_id))

    def _add_member_and_rebalance(
        self, group: Group, member_id: str, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        member = Member(
            member_id,
            request.group_instance_id,
            request.client_id,
            request.client_host,
            request.rebalance_timeout_ms,
            request.session_timeout_ms,
            request.protocol_type,
            list(request.protocols),
            join_waiter=waiter,
        )
        if group.state is PREPARING and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        self.rebalancer.expect_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self.rebalancer.maybe_prepare_rebalance(group, f"member {member_id} joined")

    def _update_member_and_rebalance(
        self, group: Group, member: Member, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        member.rejoin(request, waiter)
        self.rebalancer.maybe_prepare_rebalance(group, f"member {member.member_id} rejoined")

    def _replace_static_member(
        self, group: Group, old_id: str, new_id: str, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        """A static member restarted: it takes over its old member's place, fencing the old instance."""
        old_leader = group.leader_id
        member = group.members[old_id]
        resolve(member.join_waiter, JoinResult(ErrorCode.FENCED_INSTANCE_ID, old_id))
        resolve(member.sync_waiter, SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        member.join_waiter = member.sync_waiter = None
        member.member_id = new_id
        group.members = {new_id if key == old_id else key: value for key, value in group.members.items()}
        assert request.group_instance_id is not None
        group.static_members[request.group_instance_id] = new_id
        if group.leader_id == old_id:
            group.leader_id = new_id
        if old_id in group.pending_sync:
            group.pending_sync.remove(old_id)
            group.pending_sync.add(new_id)
        self.rebalancer.expect_heartbeat(group, member, member.session_timeout_ms)
        member.rejoin(request, waiter)
        if group.state is STABLE:
            if group.protocol_name != group.select_protocol():
                self.rebalancer.maybe_prepare_rebalance(group, f"static member {new_id} changed the group's protocol")
                return
            # Same protocol: the member keeps its assignment and the group its generation.
            self.table.persist(group)
            member.join_waiter = None
            if request.supports_skip_assignment:
                # v9+: the leader learns it leads but must not assign again (the group is stable).
                is_leader = group.leader_id == new_id
                resolve(waiter, group.join_result(new_id, skip_assignment=is_leader))
            else:
                # Older versions: name the old leader id, so no member thinks it must assign.
                resolve(waiter, group.join_result(new_id, leader=old_leader or ""))
        elif group.state is COMPLETING:
            # The leader may be assigning for the old member id: start again with the new one.
            self.rebalancer.prepare_rebalance(group, f"static member {new_id} rejoined during a rebalance")

    # -- SyncGroup, Heartbeat, LeaveGroup ------------------------------------------

    def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: Mapping[str, bytes],
    ) -> asyncio.Future[SyncResult]:
        """The member's assignment: at once, or when the leader's SyncGroup brings it."""
        error = self.table.status_error(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            # The rebalance this sync belongs to is lost with the old state: rejoin without looking
            # for the coordinator again (older clients do not expect COORDINATOR_LOAD_IN_PROGRESS).
            error = ErrorCode.REBALANCE_IN_PROGRESS
        group = self.table.groups.get(group_id)
        if error is None and group is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        if error is None and group is not None:
            error = group.generation_error(generation_id, member_id, group_instance_id)
            if error is None and (
                (protocol_type is not None and protocol_type != group.protocol_type)
                or (protocol_name is not None and protocol_name != group.protocol_name)
            ):
                error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if error is not None:
            return answered(SyncResult(error))
        assert group is not None  # and has this member, so it is not Empty
        if group.state is PREPARING:
            return answered(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        group.synced(member_id)
        if group.state is STABLE:
            self.rebalancer.expect_heartbeat(group, member, member.session_timeout_ms)
            return answered(SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name))
        waiter: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        resolve(member.sync_waiter, SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))  # superseded by this one
        member.sync_waiter = waiter
        if group.leader_id == member_id:
            self.rebalancer.complete_sync(group, assignments)
        return waiter

    def heartbeat(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None) -> ErrorCode:
        error = self.table.status_error(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return ErrorCode.NONE  # as Kafka: nothing to check against yet; the member stays put
        if error is not None:
            return error
        group = self.table.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        error = group.generation_error(generation_id, member_id, group_instance_id)
        if error is not None:
            return error
        member = group.members[member_id]
        self.rebalancer.expect_heartbeat(group, member, member.session_timeout_ms)
        if group.state is PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(
        self, group_id: str, leaving: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """(top-level error, one error per (member id, group instance id) leaving)."""
        error = self.table.status_error(group_id)
        if error is not None:
            return error, []
        group = self.table.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(leaving)
        if group.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        return ErrorCode.NONE, [self._leave(group, member_id, instance_id) for member_id, instance_id in leaving]

    def _leave(self, group: Group, member_id: str, group_instance_id: str | None) -> ErrorCode:
        if not member_id:
            # An administrator removing a static member by its instance id alone.
            current = group.static_members.get(group_instance_id) if group_instance_id is not None else None
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            member_id = current
        elif member_id in group.pending_members:
            group.remove(member_id)
            self.rebalancer.maybe_complete_join(group)
            return ErrorCode.NONE
        else:
            error = group.member_error(member_id, group_instance_id)
            if error is not None:
                return error
        log.info("group %s: member %s left", group, member_id)
        self.rebalancer.remove_member(group, group.members[member_id])
        return ErrorCode.NONE

    # -- offset commits ------------------------------------------------------------

    def admit_commit(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        transactional: bool = False,
    ) -> ErrorCode | None:
        """Why the committer may not commit offsets to the group now, or None (OffsetCommit, TxnOffsetCommit).

        A commit with generation -1 to a group this broker does not know creates it, empty.
        `transactional` (TxnOffsetCommit): with no member id and generation, no member is checked,
        and a rebalance in progress does not refuse it (Kafka's rules).
        """
        error = self.table.status_error(group_id, empty_id_allowed=True)
        consumer_group = self.table.consumer_groups.get(group_id)
        if error is None and consumer_group is not None:  # generation_id is the KIP-848 member epoch
            return consumer_group.commit_error(member_id, generation_id)
        group = self.table.groups.get(group_id)
        if error is None and group is None:
            if generation_id >= 0:
                error = ErrorCode.ILLEGAL_GENERATION  # a member of a generation this broker never had
            else:
                # A consumer that assigns its partitions itself keeps its offsets in a group of its own.
                group = self.table.groups[group_id] = Group(group_id)
                self.table.persist(group)
        if error is None and group is not None:
            error = _commit_error(group, generation_id, member_id, group_instance_id, transactional)
        if error is not None or group is None:
            return error
        if group.state in (STABLE, PREPARING) and member_id in group.members:  # a validated member
            member = group.members[member_id]
            self.rebalancer.expect_heartbeat(group, member, member.session_timeout_ms)
        return None
