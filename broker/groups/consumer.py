"""KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe): the broker computes assignments.

A member joins with epoch 0, heartbeats with the epoch it was last given, and leaves with -1 (or
-2, a static member that will come back under its instance id). Each heartbeat may change the
member's subscription (topic names, or an RE2/J regular expression matched against every topic
name, as Kafka, from the heartbeat after the one that brought it), which bumps the group epoch; the
group's target assignment is then computed at once by the assignor the members ask for (the most
asked; else the first of --group-consumer-assignors), and every member reconciles towards it at its own heartbeats
(consumer_state.py). Members are fenced, as Kafka: a heartbeat with an epoch the member was never
given gets FENCED_MEMBER_EPOCH (110) (an older one is accepted when it is the member's previous
epoch and it owns no more than it is assigned); a member silent for
--group-consumer-session-timeout-ms, or that does not revoke within its rebalance timeout, is removed.

Each change is written to the metadata store (consumer_groups role) in the group's order, so the
broker that coordinates the group next loads it and continues. A classic group with members keeps
its id: a consumer-protocol join gets GROUP_ID_NOT_FOUND (69), as Kafka without migration; an
empty one (only offsets) becomes a consumer group, its offsets kept.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import re2

from streamhouse.broker.groups.assignors import ASSIGNORS, Assignment
from streamhouse.broker.groups.clock import Clock, LoopClock
from streamhouse.broker.groups.consumer_state import (
    LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    TopicView,
    partitions_of,
    topic_view,
)
from streamhouse.broker.groups.migration import ClassicMembers, downgrade, upgrade
from streamhouse.broker.groups.table import GroupTable
from streamhouse.metadata.base import ConsumerGroupDocument
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.topics import TopicCache

log = logging.getLogger(__name__)

GROUP_TYPE = "consumer"
PROTOCOL_TYPE = "consumer"


@dataclass(frozen=True)
class HeartbeatCall:
    """A ConsumerGroupHeartbeat request, its None fields unchanged since the member's last heartbeat."""

    version: int
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None
    rack_id: str | None
    rebalance_timeout_ms: int
    subscribed_topic_names: tuple[str, ...] | None
    subscribed_topic_regex: str | None
    server_assignor: str | None
    owned: Assignment | None
    client_id: str
    client_host: str

    @property
    def is_full(self) -> bool:
        """Kafka's full request (a member that lost its state resends everything): answered with the assignment."""
        subscribed = self.subscribed_topic_names is not None or self.subscribed_topic_regex is not None
        return self.rebalance_timeout_ms != -1 and subscribed and self.owned is not None


@dataclass(frozen=True)
class HeartbeatAnswer:
    error: ErrorCode
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


class HeartbeatError(Exception):
    def __init__(self, error: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or error.name)
        self.error = error
        self.message = message


def _regex_error(regex: str) -> str | None:
    try:
        re2.compile(regex)
    except re2.error as exc:
        return f"SubscribedTopicRegex {regex!r} is not a valid regular expression: {exc}"
    return None


class RegexMatches:
    """Each regex's matching topic names, kept while the topic view is the same object (no topic changed)."""

    def __init__(self) -> None:
        self._view: TopicView | None = None
        self._matches: dict[str, tuple[str, ...]] = {}

    def of(self, regex: str, view: TopicView) -> tuple[str, ...]:
        if view is not self._view:
            self._view, self._matches = view, {}
        found = self._matches.get(regex)
        if found is None:
            compiled = re2.compile(regex)
            found = self._matches[regex] = tuple(sorted(name for name in view if compiled.fullmatch(name)))
        return found


def _log_failure(written: asyncio.Future[None]) -> None:
    if not written.cancelled() and (exc := written.exception()) is not None:
        log.warning("writing a consumer group's state failed: %s", exc)


class ConsumerGroups:
    """The consumer-protocol groups of this broker, beside the classic ones in the same GroupTable."""

    def __init__(
        self,
        table: GroupTable,
        topics: TopicCache,
        clock: Clock | None = None,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 5000,
        assignors: Sequence[str] = ("uniform", "range"),
    ) -> None:
        unknown = [name for name in assignors if name not in ASSIGNORS]
        if unknown or not assignors:
            raise ValueError(f"group consumer assignors must be among {sorted(ASSIGNORS)}, not {list(assignors)}")
        self.table = table
        self.topics = topics
        self.clock = clock or LoopClock()
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.assignors = list(assignors)
        self.classic = ClassicMembers(self)
        self.regexes = RegexMatches()
        self._writes: dict[str, asyncio.Future[None]] = {}  # per group, its last queued write
        table.consumer_group_loaded = self._loaded

    @property
    def groups(self) -> dict[str, ConsumerGroup]:
        return self.table.consumer_groups

    # -- heartbeats ------------------------------------------------------------

    async def heartbeat(self, call: HeartbeatCall) -> HeartbeatAnswer:
        try:
            self._check_request(call)
            view = await self.topic_view()
            answer = self._heartbeat(call, view)
        except HeartbeatError as refused:
            return HeartbeatAnswer(refused.error, refused.message, member_epoch=call.member_epoch)
        # As Kafka, which answers once the group's records are written: the next coordinator knows it.
        written = self._writes.pop(call.group_id, None)
        if written is not None and (error := await self.table.outcome(written)) is not ErrorCode.NONE:
            return HeartbeatAnswer(error, member_epoch=call.member_epoch)
        return answer

    async def topic_view(self) -> TopicView:
        """Every topic by name, with its id and partition count, kept until a topic changes."""
        return await topic_view(self.topics)

    def _check_request(self, call: HeartbeatCall) -> None:
        """Kafka's request validation, then the coordinator's status, then a classic group in the way."""
        if not call.group_id:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if call.version >= 1 and not call.member_id:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if call.member_epoch > 0 and not call.member_id:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if call.member_epoch < STATIC_LEAVE_EPOCH:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, f"MemberEpoch {call.member_epoch} is invalid.")
        if call.member_epoch == STATIC_LEAVE_EPOCH and call.instance_id is None:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "InstanceId can't be null.")
        if call.member_epoch == 0:
            if call.rebalance_timeout_ms == -1:
                raise HeartbeatError(ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if call.owned is None or call.owned:
                raise HeartbeatError(ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if call.subscribed_topic_names is None and call.subscribed_topic_regex is None:
                raise HeartbeatError(
                    ErrorCode.INVALID_REQUEST,
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                )
        if call.subscribed_topic_regex is not None and (message := _regex_error(call.subscribed_topic_regex)):
            raise HeartbeatError(ErrorCode.INVALID_REGULAR_EXPRESSION, message)
        if call.server_assignor is not None and call.server_assignor not in self.assignors:
            raise HeartbeatError(ErrorCode.UNSUPPORTED_ASSIGNOR, f"Assignor {call.server_assignor} is not supported.")
        if (error := self.table.status_error(call.group_id)) is not None:
            raise HeartbeatError(error)
        classic = self.table.groups.get(call.group_id)
        if classic is not None and classic.members and classic.protocol_type != PROTOCOL_TYPE:
            raise HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {call.group_id} is not a consumer group.")

    def _heartbeat(self, call: HeartbeatCall, view: TopicView) -> HeartbeatAnswer:
        classic = self.table.groups.get(call.group_id)
        if classic is not None and classic.members and call.member_epoch == 0:
            upgrade(self, classic, view)  # online migration: its members stay, as classic members
        group = self.groups.get(call.group_id)
        if group is None:
            if call.member_epoch != 0:
                raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
            group = self.groups[call.group_id] = ConsumerGroup(call.group_id, assignor=self.assignors[0])
            self.table.groups.pop(call.group_id, None)  # an empty classic group: its offsets stay
        if call.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(group, call)
        member, changed = self._member(group, call)
        told_epoch = member.member_epoch
        changed |= self._subscribe(member, call)
        changed |= self.refresh_topics(group, view)
        if changed:
            group.group_epoch += 1
            self.assign(group)
        before = partitions_of(member.assigned)
        was_revoking = member.state is MemberState.UNREVOKED_PARTITIONS
        member.reconcile(
            group.target.get(member.member_id, {}),
            group.assignment_epoch,
            group.owned_by_others(member.member_id),
            call.owned,
        )
        self.arm_timers(group, member, was_revoking)
        self.persist(group)
        send = call.member_epoch == 0 or call.is_full or partitions_of(member.assigned) != before
        log.debug(
            "group %s member %s: epoch %d -> %d", group.group_id, member.member_id, told_epoch, member.member_epoch
        )
        return HeartbeatAnswer(
            ErrorCode.NONE,
            member_id=member.member_id,
            member_epoch=member.member_epoch,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            assignment=dict(member.assigned) if send else None,
        )

    def _member(self, group: ConsumerGroup, call: HeartbeatCall) -> tuple[ConsumerMember, bool]:
        """The member the heartbeat is from (created or taken over when joining), and whether it is new."""
        if call.member_epoch == 0:
            return self._join(group, call)
        member = group.members.get(call.member_id)
        if member is None:
            raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
        self._check_instance(group, member, call)
        if call.member_epoch > member.member_epoch:
            raise HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, "The consumer group member has a greater member epoch.")
        if call.member_epoch < member.member_epoch:
            owns_no_more = call.owned is not None and partitions_of(call.owned) <= partitions_of(member.assigned)
            if not (call.member_epoch == member.previous_member_epoch and owns_no_more):
                raise HeartbeatError(
                    ErrorCode.FENCED_MEMBER_EPOCH, "The consumer group member has a smaller member epoch."
                )
        return member, False

    def _join(self, group: ConsumerGroup, call: HeartbeatCall) -> tuple[ConsumerMember, bool]:
        member_id = call.member_id or str(uuid.uuid4())  # v0: the coordinator names the member
        if call.instance_id is not None:
            previous = group.static_member(call.instance_id)
            if previous is not None and previous.member_id != member_id:
                if previous.member_epoch != STATIC_LEAVE_EPOCH:
                    raise HeartbeatError(
                        ErrorCode.UNRELEASED_INSTANCE_ID,
                        f"Static member {previous.member_id} with instance id {call.instance_id} is not released.",
                    )
                # The instance comes back under a new member id: it takes the previous one's place and
                # assignment, at its epoch; nothing is rebalanced.
                previous.cancel_timers()
                del group.members[previous.member_id]
                if (target := group.target.pop(previous.member_id, None)) is not None:
                    group.target[member_id] = target
                previous.member_id = member_id
                previous.member_epoch = previous.previous_member_epoch
                group.members[member_id] = previous
                return previous, False
        member = group.members.get(member_id)
        if member is not None:
            # A known member joining again (it was fenced, or lost its state) owns nothing any more.
            member.cancel_timers()
            member.assigned, member.pending_revocation = {}, {}
            member.state, member.member_epoch = MemberState.STABLE, 0
            return member, False
        member = group.members[member_id] = ConsumerMember(
            member_id, call.instance_id, call.rack_id, call.client_id, call.client_host, call.rebalance_timeout_ms
        )
        return member, True

    @staticmethod
    def _check_instance(group: ConsumerGroup, member: ConsumerMember, call: HeartbeatCall) -> None:
        if call.instance_id is None or call.instance_id == member.instance_id:
            return
        owner = group.static_member(call.instance_id)
        if owner is None:
            raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {call.instance_id} is unknown.")
        raise HeartbeatError(ErrorCode.FENCED_INSTANCE_ID, f"Instance id {call.instance_id} is another member's.")

    @staticmethod
    def _subscribe(member: ConsumerMember, call: HeartbeatCall) -> bool:
        """Apply the fields the heartbeat changed; True when the subscription changed."""
        before = (member.subscribed_topic_names, member.subscribed_topic_regex, member.server_assignor)
        if call.subscribed_topic_names is not None:
            member.subscribed_topic_names = tuple(sorted(set(call.subscribed_topic_names)))
        if call.subscribed_topic_regex is not None:
            member.subscribed_topic_regex = call.subscribed_topic_regex or None
        if call.server_assignor is not None:
            member.server_assignor = call.server_assignor
        if call.rebalance_timeout_ms != -1:
            member.rebalance_timeout_ms = call.rebalance_timeout_ms
        if call.rack_id is not None:
            member.rack_id = call.rack_id
        member.client_id, member.client_host = call.client_id, call.client_host
        return before != (member.subscribed_topic_names, member.subscribed_topic_regex, member.server_assignor)

    def refresh_topics(self, group: ConsumerGroup, view: TopicView) -> bool:
        """Resolve the regexes and re-read the subscribed topics; True when either changed."""
        regexes = sorted({m.subscribed_topic_regex for m in group.members.values() if m.subscribed_topic_regex})
        # As Kafka, which resolves a new regex asynchronously: it matches nothing until the group's next
        # heartbeat, so the topics named literally are assigned first (librdkafka's tests expect it).
        matches = {regex: self.regexes.of(regex, view) if regex in group.regex_matches else () for regex in regexes}
        changed = matches != group.regex_matches
        group.regex_matches = matches
        topics = {name: view[name] for name in group.subscribed_names() if name in view}
        changed |= topics != group.topics
        group.topics = topics
        return changed

    def assign(self, group: ConsumerGroup) -> None:
        """The target assignment of the group epoch, by the assignor the members ask for most."""
        asked = Counter(m.server_assignor for m in group.members.values() if m.server_assignor is not None)
        group.assignor = asked.most_common(1)[0][0] if asked else self.assignors[0]
        subscriptions = {m.member_id: group.member_topics(m) for m in group.members.values()}
        counts = {topic_id: count for topic_id, count in group.topics.values()}
        group.target = ASSIGNORS[group.assignor](subscriptions, counts, group.target)
        group.assignment_epoch = group.group_epoch

    def _leave(self, group: ConsumerGroup, call: HeartbeatCall) -> HeartbeatAnswer:
        member = group.members.get(call.member_id)
        if member is None:
            raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {call.member_id} is not a member.")
        self._check_instance(group, member, call)
        if call.member_epoch == STATIC_LEAVE_EPOCH:
            # Its partitions stay its own until it comes back or its session ends.
            member.previous_member_epoch, member.member_epoch = member.member_epoch, STATIC_LEAVE_EPOCH
        else:
            self.remove(group, member)
        self.persist(group)
        return HeartbeatAnswer(
            ErrorCode.NONE,
            member_id=call.member_id,
            member_epoch=call.member_epoch,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
        )

    def remove(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        member.cancel_timers()
        del group.members[member.member_id]
        group.target.pop(member.member_id, None)
        group.group_epoch += 1
        group.regex_matches = {
            r: m
            for r, m in group.regex_matches.items()
            if r in {x.subscribed_topic_regex for x in group.members.values()}
        }
        group.topics = {name: group.topics[name] for name in group.subscribed_names() if name in group.topics}
        self.assign(group)
        if group.members and not group.has_consumer_members:
            downgrade(self, group)  # only classic members are left: the group is classic again

    # -- timers ----------------------------------------------------------------

    def arm_timers(self, group: ConsumerGroup, member: ConsumerMember, was_revoking: bool) -> None:
        if member.session_timer is not None:
            member.session_timer.cancel()
        session_timeout_ms = member.classic_session_timeout_ms or self.session_timeout_ms
        member.session_timer = self.clock.call_later(
            session_timeout_ms, lambda: self._expire(group, member, "session timeout")
        )
        revoking = member.state is MemberState.UNREVOKED_PARTITIONS
        if revoking and not was_revoking:
            member.rebalance_timer = self.clock.call_later(
                member.rebalance_timeout_ms, lambda: self._expire(group, member, "rebalance timeout")
            )
        elif not revoking and member.rebalance_timer is not None:
            member.rebalance_timer.cancel()
            member.rebalance_timer = None

    def _expire(self, group: ConsumerGroup, member: ConsumerMember, why: str) -> None:
        if self.groups.get(group.group_id) is not group or group.members.get(member.member_id) is not member:
            return
        log.info("group %s: member %s removed (%s)", group.group_id, member.member_id, why)
        self.remove(group, member)
        self.persist(group)

    def _loaded(self, group: ConsumerGroup) -> None:
        """A group loaded from the store: its members' sessions start again from now."""
        for member in group.members.values():
            self.arm_timers(group, member, was_revoking=False)

    def persist(self, group: ConsumerGroup) -> None:
        """Queue the group's state if it changed; the heartbeat being answered waits for the write."""
        if self.groups.get(group.group_id) is not group:
            return  # deleted, or classic again
        document = group.document()
        if document != group.saved:
            group.saved = document
            store = self.table.store
            written = self.table.queue(
                lambda: store.consumer_groups.save_consumer_group(ConsumerGroupDocument(group.group_id, document))
            )
            written.add_done_callback(_log_failure)
            self._writes[group.group_id] = written

    # -- administration --------------------------------------------------------

    def yield_to_classic(self, group_id: str) -> None:
        """Before a classic JoinGroup: a consumer group without members becomes classic (offsets kept)."""
        group = self.groups.get(group_id)
        if group is None or group.members:
            return
        del self.groups[group_id]
        store = self.table.store
        self.table.write_later(lambda: store.consumer_groups.delete_consumer_group(group_id))

    def fetch_error(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode | None:
        """Why a consumer-protocol member's OffsetFetch (v9+) may not read, or None (no such group: no check)."""
        group = self.groups.get(group_id)
        return None if group is None else group.fetch_error(member_id, member_epoch)

    def describe(self, group_id: str) -> tuple[ErrorCode, str | None, ConsumerGroup | None]:
        if (error := self.table.status_error(group_id)) is not None:
            return error, None, None
        group = self.groups.get(group_id)
        if group is None:
            if group_id in self.table.groups:
                return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.", None
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.", None
        return ErrorCode.NONE, None, group
