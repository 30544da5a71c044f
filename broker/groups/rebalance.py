"""Rebalances: the steps from one generation to the next, and the timers that drive them."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from streamhouse.broker.groups.clock import Clock
from streamhouse.broker.groups.state import (
    COMPLETING,
    EMPTY,
    PREPARING,
    STABLE,
    VALID_PREVIOUS,
    Group,
    Member,
    SyncResult,
    resolve,
)
from streamhouse.broker.groups.table import GroupTable
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)


class Rebalancer:
    """Forms generations: parks joins until members rejoin, completes syncs, expires sessions."""

    def __init__(self, table: GroupTable, clock: Clock, initial_rebalance_delay_ms: int) -> None:
        self.table = table
        self.clock = clock
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self.rebalances: dict[str, int] = {}  # rebalances started per group id, for the metrics

    # -- joins -------------------------------------------------------------------

    def maybe_prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.state in VALID_PREVIOUS[PREPARING]:
            self.prepare_rebalance(group, reason)

    def prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.state is COMPLETING:
            self._propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.clear_pending_sync()
        if group.state is EMPTY:
            # Let more members of a starting group arrive before the first generation is formed.
            group.initial_delay_left_ms = max(group.rebalance_timeout_ms - self.initial_rebalance_delay_ms, 0)
            group.new_member_added = False
            delay = self.initial_rebalance_delay_ms
        else:
            group.initial_delay_left_ms = None
            delay = group.rebalance_timeout_ms
        group.transition(PREPARING)
        self.rebalances[group.group_id] = self.rebalances.get(group.group_id, 0) + 1
        group.join_timer = self.clock.call_later(delay, lambda: self._on_join_timer(group))
        log.info("group %s preparing to rebalance after generation %d: %s", group, group.generation_id, reason)
        self.maybe_complete_join(group)

    def maybe_complete_join(self, group: Group) -> None:
        if group.state is PREPARING and group.initial_delay_left_ms is None and group.all_members_joined():
            self._complete_join(group)

    def _on_join_timer(self, group: Group) -> None:
        group.join_timer = None
        left = group.initial_delay_left_ms
        if left is not None and left > 0 and group.new_member_added:
            group.new_member_added = False
            delay = min(self.initial_rebalance_delay_ms, left)
            group.initial_delay_left_ms = left - delay
            group.join_timer = self.clock.call_later(delay, lambda: self._on_join_timer(group))
            return
        self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        if group.join_timer is not None:
            group.join_timer.cancel()
            group.join_timer = None
        group.initial_delay_left_ms = None
        laggards = [m for m in group.members.values() if m.join_waiter is None and m.group_instance_id is None]
        for member in laggards:
            log.info("group %s: member %s did not rejoin in time", group, member.member_id)
            group.drop(member)
        if not group.members:
            group.generation_id += 1
            group.protocol_name = None
            group.subscribed_topics = group.compute_subscribed_topics()
            group.transition(EMPTY)
            self.table.persist(group)
            log.info("group %s is empty at generation %d", group, group.generation_id)
            return
        if not group.elect_joined_leader():
            # Only static members that did not rejoin are left: wait for them, or for their sessions to end.
            group.join_timer = self.clock.call_later(group.rebalance_timeout_ms, lambda: self._on_join_timer(group))
            return
        group.generation_id += 1
        group.protocol_name = group.select_protocol()
        group.subscribed_topics = group.compute_subscribed_topics()
        group.transition(COMPLETING)
        self.table.persist(group)
        log.info(
            "group %s formed generation %d with %d members, protocol %s",
            group,
            group.generation_id,
            len(group.members),
            group.protocol_name,
        )
        for member in group.members.values():
            resolve(member.join_waiter, group.join_result(member.member_id))
            member.join_waiter = None
            member.is_new = False
            self.expect_heartbeat(group, member, member.session_timeout_ms)
            group.pending_sync.add(member.member_id)
        group.sync_timer = self.clock.call_later(group.rebalance_timeout_ms, lambda: self._on_sync_timer(group))

    # -- syncs -------------------------------------------------------------------

    def complete_sync(self, group: Group, assignments: Mapping[str, bytes]) -> None:
        """The leader's assignments reach every member (an empty one for members it left out)."""
        missing = [member_id for member_id in group.members if member_id not in assignments]
        if missing:
            log.warning("group %s: the leader assigned nothing to %s", group, ", ".join(missing))
        for member in group.members.values():
            member.assignment = assignments.get(member.member_id, b"")
            if member.sync_waiter is not None:
                resolve(
                    member.sync_waiter,
                    SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name),
                )
                member.sync_waiter = None
                self.expect_heartbeat(group, member, member.session_timeout_ms)
        group.transition(STABLE)
        self.table.persist(group)
        log.info("group %s is stable at generation %d", group, group.generation_id)

    def _on_sync_timer(self, group: Group) -> None:
        # Still this generation with members missing: a rebalance or the last sync cancels the timer.
        group.sync_timer = None
        missing = sorted(group.pending_sync)
        for member_id in missing:
            group.drop(group.members[member_id])
        self.prepare_rebalance(group, f"members {', '.join(missing)} did not sync in time")

    def _propagate_assignment_error(self, group: Group, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            if member.sync_waiter is not None:
                resolve(member.sync_waiter, SyncResult(error))
                member.sync_waiter = None
                self.expect_heartbeat(group, member, member.session_timeout_ms)

    # -- members' sessions -------------------------------------------------------

    def expect_heartbeat(self, group: Group, member: Member, timeout_ms: int) -> None:
        """The member is alive now; it must show it again within timeout_ms."""
        if member.session_timer is not None:
            member.session_timer.cancel()
        member.session_timer = self.clock.call_later(timeout_ms, lambda: self._on_session_timeout(group, member))

    def _on_session_timeout(self, group: Group, member: Member) -> None:
        # Still a member: removing one cancels its timer.
        member.session_timer = None
        if member.awaiting and not member.is_new:
            return  # a member waiting for the rebalance to finish is alive; it is expected again afterwards
        log.info("group %s: member %s's session expired", group, member.member_id)
        self.remove_member(group, member)

    def expire_pending_member(self, group: Group, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is not None:
            self.maybe_complete_join(group)

    def remove_member(self, group: Group, member: Member) -> None:
        """A member is gone (left, or its session expired): the group rebalances without it."""
        group.drop(member)
        if group.state in (STABLE, COMPLETING):
            self.maybe_prepare_rebalance(group, f"member {member.member_id} left")
        elif group.state is PREPARING:
            self.maybe_complete_join(group)
