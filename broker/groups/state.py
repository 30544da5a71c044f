"""A classic group as its coordinator keeps it: state, members, and the answers members are told.

States, as Kafka's classic groups (GroupMetadata.scala):

- Empty: no members (a new group, one whose members all left, or one that only commits
  offsets). A join starts a rebalance after `group.initial.rebalance.delay.ms`, extended while
  new members keep arriving, within the rebalance timeout.
- PreparingRebalance: joins are parked until every known member has rejoined, or the rebalance
  timeout passed (members that did not rejoin are evicted, static ones wait for their session
  to expire). Heartbeats answer REBALANCE_IN_PROGRESS so members rejoin.
- CompletingRebalance: the generation is formed (id + 1, protocol chosen, leader told the
  members); syncs are parked until the leader's SyncGroup brings the assignments. Members that
  do not sync within the rebalance timeout are evicted.
- Stable: the assignment is delivered; a member whose session expires, that leaves, changes
  its metadata, or a leader that rejoins starts the next rebalance.
- Dead: the group is being deleted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from streamhouse.broker.groups.clock import Timer
from streamhouse.metadata.base import GroupRecord
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


EMPTY, PREPARING, COMPLETING, STABLE, DEAD = GroupState
VALID_PREVIOUS = {
    PREPARING: {STABLE, COMPLETING, EMPTY},
    COMPLETING: {PREPARING},
    STABLE: {COMPLETING},
    DEAD: set(GroupState),
    EMPTY: {PREPARING},
}


@dataclass(frozen=True)
class JoinRequest:
    group_id: str
    member_id: str  # "" for a member joining for the first time
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Sequence[tuple[str, bytes]]  # (name, metadata), in the member's order of preference
    require_known_member_id: bool = True  # JoinGroup v4+ without a group instance id
    supports_skip_assignment: bool = True  # JoinGroup v9+


@dataclass(frozen=True)
class JoinedMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True)
class JoinResult:
    error: ErrorCode
    member_id: str
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: tuple[JoinedMember, ...] = ()  # the leader's only


@dataclass(frozen=True)
class SyncResult:
    error: ErrorCode
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


def resolve(waiter: asyncio.Future[T] | None, result: T) -> None:
    # A waiter is cancelled when its client's connection closed; nobody reads the answer then.
    if waiter is not None and not waiter.done():
        waiter.set_result(result)


def answered(result: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


@dataclass(eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    is_new: bool = True  # has not yet been part of a generation
    join_waiter: asyncio.Future[JoinResult] | None = None
    sync_waiter: asyncio.Future[SyncResult] | None = None
    session_timer: Timer | None = None

    def metadata(self, protocol_name: str) -> bytes:
        return next(metadata for name, metadata in self.protocols if name == protocol_name)

    def vote(self, candidates: Collection[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        return next(name for name, _ in self.protocols if name in candidates)

    def matches(self, protocols: Sequence[tuple[str, bytes]]) -> bool:
        return list(protocols) == self.protocols

    @property
    def awaiting(self) -> bool:
        return self.join_waiter is not None or self.sync_waiter is not None

    def rejoin(self, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        self.protocols = list(request.protocols)
        self.rebalance_timeout_ms = request.rebalance_timeout_ms
        self.session_timeout_ms = request.session_timeout_ms
        # A join superseded by a newer one of the same member: its client has given up on it.
        resolve(self.join_waiter, JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, self.member_id))
        self.join_waiter = waiter


@dataclass(eq=False)
class Group:
    group_id: str
    state: GroupState = EMPTY
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)  # in join order
    static_members: dict[str, str] = field(default_factory=dict)  # group instance id -> member id
    pending_members: dict[str, Timer] = field(default_factory=dict)  # told MEMBER_ID_REQUIRED, not joined
    pending_sync: set[str] = field(default_factory=set)  # in the generation, SyncGroup not received
    join_timer: Timer | None = None
    sync_timer: Timer | None = None
    initial_delay_left_ms: int | None = None  # set while the initial rebalance delay runs
    new_member_added: bool = False  # during the initial delay: extend it
    subscribed_topics: frozenset[str] | None = None  # consumer groups; None when unknown

    def transition(self, state: GroupState) -> None:
        if self.state not in VALID_PREVIOUS[state]:
            raise RuntimeError(f"group {self.group_id}: no transition from {self.state.value} to {state.value}")
        self.state = state

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((member.rebalance_timeout_ms for member in self.members.values()), default=0)

    def all_members_joined(self) -> bool:
        return not self.pending_members and all(m.join_waiter is not None for m in self.members.values())

    def supports(self, protocol_type: str, protocols: Sequence[tuple[str, bytes]]) -> bool:
        """Whether a member with these protocols may join: same type, and a protocol all members support."""
        if self.state is EMPTY:
            return bool(protocol_type) and bool(protocols)
        return protocol_type == self.protocol_type and any(self._supported_by_all(name) for name, _ in protocols)

    def _supported_by_all(self, protocol_name: str) -> bool:
        return all(any(name == protocol_name for name, _ in m.protocols) for m in self.members.values())

    def select_protocol(self) -> str:
        """Each member votes for its most preferred common protocol; the most votes win (ties: first voted)."""
        first = next(iter(self.members.values()))
        candidates = {name for name, _ in first.protocols if self._supported_by_all(name)}
        votes = Counter(member.vote(candidates) for member in self.members.values())
        return votes.most_common(1)[0][0]

    def member_error(self, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
        """A static member's instance id must map to this member id; any member id must be a member."""
        if group_instance_id is not None:
            current = self.static_members.get(group_instance_id)
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if current != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return None

    def generation_error(self, generation_id: int, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
        if self.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE  # being deleted: the client looks again and retries
        error = self.member_error(member_id, group_instance_id)
        if error is None and generation_id != self.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        return error

    def add(self, member: Member) -> None:
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self._forget_pending(member.member_id)

    def remove(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        if member is not None:
            if member.group_instance_id is not None:
                self.static_members.pop(member.group_instance_id, None)
            if member.session_timer is not None:
                member.session_timer.cancel()
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self._forget_pending(member_id)
        self.pending_sync.discard(member_id)

    def drop(self, member: Member) -> None:
        """Remove a member; its parked requests learn it is gone, so its client joins again."""
        resolve(member.join_waiter, JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, ""))
        resolve(member.sync_waiter, SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        member.join_waiter = member.sync_waiter = None
        self.remove(member.member_id)

    def _forget_pending(self, member_id: str) -> None:
        timer = self.pending_members.pop(member_id, None)
        if timer is not None:
            timer.cancel()

    def elect_joined_leader(self) -> bool:
        """Keep a leader that rejoined, else make any rejoined member the leader; False if none rejoined."""
        leader = self.members.get(self.leader_id or "")
        if leader is not None and leader.join_waiter is not None:
            return True
        joined = next((m for m in self.members.values() if m.join_waiter is not None), None)
        if joined is None:
            return False
        self.leader_id = joined.member_id
        return True

    def clear_pending_sync(self) -> None:
        self.pending_sync.clear()
        if self.sync_timer is not None:
            self.sync_timer.cancel()
            self.sync_timer = None

    def synced(self, member_id: str) -> None:
        self.pending_sync.discard(member_id)
        if not self.pending_sync:
            self.clear_pending_sync()

    def unload(self) -> None:
        """As Kafka when a coordinator resigns: parked requests learn to look for the coordinator again."""
        for timer in (self.join_timer, self.sync_timer, *self.pending_members.values()):
            if timer is not None:
                timer.cancel()
        for member in self.members.values():
            resolve(member.join_waiter, JoinResult(ErrorCode.NOT_COORDINATOR, member.member_id))
            resolve(member.sync_waiter, SyncResult(ErrorCode.NOT_COORDINATOR))
            member.join_waiter = member.sync_waiter = None
            if member.session_timer is not None:
                member.session_timer.cancel()

    def joined_members(self) -> tuple[JoinedMember, ...]:
        assert self.protocol_name is not None
        return tuple(
            JoinedMember(m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
            for m in self.members.values()
        )

    def join_result(self, member_id: str, *, leader: str | None = None, skip_assignment: bool = False) -> JoinResult:
        """The current generation, as told to a member; the leader gets every member's metadata."""
        told_leader = self.leader_id if leader is None else leader
        is_leader = member_id == told_leader
        return JoinResult(
            ErrorCode.NONE,
            member_id,
            self.generation_id,
            self.protocol_type,
            self.protocol_name,
            told_leader or "",
            skip_assignment,
            self.joined_members() if is_leader else (),
        )

    def record(self) -> GroupRecord:
        return GroupRecord(
            self.group_id,
            self.protocol_type or "",
            self.generation_id,
            self.protocol_name,
            self.leader_id,
            self.state.value,
        )

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        """The topics a consumer group's members subscribe to; None when not a consumer group or unreadable."""
        if self.protocol_type != consumer_protocol.PROTOCOL_TYPE:
            return None
        if self.protocol_name is None:
            return frozenset()
        topics: set[str] = set()
        try:
            for member in self.members.values():
                _, subscription = consumer_protocol.decode(
                    consumer_protocol.SUBSCRIPTION, member.metadata(self.protocol_name)
                )
                topics.update(subscription.topics)
        except ProtocolError as exc:
            log.warning("group %s: unreadable consumer subscription (%s); subscribed topics unknown", self, exc)
            return None
        return frozenset(topics)

    def __str__(self) -> str:
        return self.group_id
