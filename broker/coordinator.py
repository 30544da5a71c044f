"""The classic consumer group coordinator: one state machine per group, its timers, committed offsets.

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

Error codes are returned where Kafka returns them: UNKNOWN_MEMBER_ID (25), ILLEGAL_GENERATION
(22), REBALANCE_IN_PROGRESS (27), MEMBER_ID_REQUIRED (79), FENCED_INSTANCE_ID (82),
INVALID_SESSION_TIMEOUT (26), INCONSISTENT_GROUP_PROTOCOL (23), INVALID_GROUP_ID (24),
GROUP_ID_NOT_FOUND (69), NON_EMPTY_GROUP (68), GROUP_SUBSCRIBED_TO_TOPIC (86),
OFFSET_METADATA_TOO_LARGE (12); COORDINATOR_LOAD_IN_PROGRESS (14) before the groups are loaded,
NOT_COORDINATOR (16) once stopping and for a group another live broker coordinates (broker/cluster.py
names one per group), and COORDINATOR_NOT_AVAILABLE (15) for a group being deleted or when the
metadata store cannot be reached.

Group records (generation, protocol, leader, state) and committed offsets live in the metadata
store; members do not, so after a restart they rejoin and the generation continues. Every store
write goes through one queue, in the order the state machine decided them, so a deletion can
never be overtaken by an earlier write of the same group.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from metadata.base import CommittedOffset, GroupRecord, MetadataStore, MetadataUnavailableError
from protocol import consumer_protocol
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

# Kafka's defaults for group.min.session.timeout.ms (a flag here) and group.max.session.timeout.ms.
MIN_SESSION_TIMEOUT_MS = 6_000
MAX_SESSION_TIMEOUT_MS = 1_800_000
# A new member's join is parked at most this long: until it has joined it cannot heartbeat, and a
# client that gave up and retried would otherwise leave a defunct member behind (Kafka's value).
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
# Kafka's default offset.metadata.max.bytes.
OFFSET_METADATA_MAX_BYTES = 4096

T = TypeVar("T")


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time and timers; the real one is LoopClock, tests drive a fake one by hand."""

    def now_ms(self) -> int: ...

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> Timer: ...


class LoopClock:
    """Wall-clock time and the running event loop's timers."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay_ms / 1000, callback)


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_EMPTY, _PREPARING, _COMPLETING, _STABLE, _DEAD = GroupState
_VALID_PREVIOUS = {
    _PREPARING: {_STABLE, _COMPLETING, _EMPTY},
    _COMPLETING: {_PREPARING},
    _STABLE: {_COMPLETING},
    _DEAD: set(GroupState),
    _EMPTY: {_PREPARING},
}


class _Status(enum.Enum):
    LOADING = "loading"
    ACTIVE = "active"
    STOPPED = "stopped"


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


@dataclass(frozen=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupSummary:
    """DescribeGroups' view: protocol, metadata and assignments only for a Stable group."""

    state: str
    protocol_type: str
    protocol_name: str
    members: tuple[MemberSummary, ...] = ()


@dataclass(frozen=True)
class GroupOverview:
    group_id: str
    protocol_type: str
    state: str


@dataclass(eq=False)
class _Member:
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


@dataclass(eq=False)
class _Group:
    group_id: str
    state: GroupState = _EMPTY
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict[str, _Member] = field(default_factory=dict)  # in join order
    static_members: dict[str, str] = field(default_factory=dict)  # group instance id -> member id
    pending_members: dict[str, Timer] = field(default_factory=dict)  # told MEMBER_ID_REQUIRED, not joined
    pending_sync: set[str] = field(default_factory=set)  # in the generation, SyncGroup not received
    join_timer: Timer | None = None
    sync_timer: Timer | None = None
    initial_delay_left_ms: int | None = None  # set while the initial rebalance delay runs
    new_member_added: bool = False  # during the initial delay: extend it
    subscribed_topics: frozenset[str] | None = None  # consumer groups; None when unknown

    def transition(self, state: GroupState) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            raise RuntimeError(f"group {self.group_id}: no transition from {self.state.value} to {state.value}")
        self.state = state

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((member.rebalance_timeout_ms for member in self.members.values()), default=0)

    def all_members_joined(self) -> bool:
        return not self.pending_members and all(m.join_waiter is not None for m in self.members.values())

    def supports(self, protocol_type: str, protocols: Sequence[tuple[str, bytes]]) -> bool:
        """Whether a member with these protocols may join: same type, and a protocol all members support."""
        if self.state is _EMPTY:
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

    def add(self, member: _Member) -> None:
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

    def _forget_pending(self, member_id: str) -> None:
        timer = self.pending_members.pop(member_id, None)
        if timer is not None:
            timer.cancel()

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


def _resolve(waiter: asyncio.Future[T] | None, result: T) -> None:
    # A waiter is cancelled when its client's connection closed; nobody reads the answer then.
    if waiter is not None and not waiter.done():
        waiter.set_result(result)


def _answered(result: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


@dataclass(frozen=True)
class _Write:
    run: Callable[[], Awaitable[None]]
    done: asyncio.Future[None] | None  # None: nobody waits (group records); failures are logged


def every_group(group_id: str) -> bool:
    return True


def no_group(group_id: str) -> bool:
    return False


class GroupCoordinator:
    """Every group of this broker, their timers, and their records and offsets in the metadata store."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Clock | None = None,
        initial_rebalance_delay_ms: int = 3000,
        min_session_timeout_ms: int = MIN_SESSION_TIMEOUT_MS,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or LoopClock()
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self.min_session_timeout_ms = min_session_timeout_ms
        self.groups: dict[str, _Group] = {}
        self.rebalances: dict[str, int] = {}  # rebalances started per group id, for the metrics
        self._status = _Status.LOADING
        self._owns: Callable[[str], bool] = every_group  # the groups this broker coordinates
        self._loaded_for: Callable[[str], bool] = no_group  # the groups whose records are loaded
        self._writes: asyncio.Queue[_Write] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------

    async def start(self, owns: Callable[[str], bool] = every_group) -> None:
        """Load the records of the groups `owns` names; members are not kept, so every loaded group is Empty."""
        self._owns = owns
        await self._load_arriving(owns)
        self._writer = asyncio.create_task(self._write_in_order(), name="group-coordinator-writes")
        self._status = _Status.ACTIVE
        log.info("group coordinator loaded %d groups", len(self.groups))

    async def reassign(self, owns: Callable[[str], bool]) -> None:
        """Coordinate the groups `owns` names from now on (the live brokers changed).

        As Kafka when a partition of __consumer_offsets moves: the groups that went elsewhere are
        unloaded (their parked requests get NOT_COORDINATOR, and so does every later request), and
        those that came here answer COORDINATOR_LOAD_IN_PROGRESS until their records are loaded. If
        the store cannot be read, they keep answering so until a later call loads them.
        """
        self._owns = owns
        for group in [group for group in self.groups.values() if not owns(group.group_id)]:
            self._unload(group)
            del self.groups[group.group_id]
        await self._load_arriving(owns)

    async def _load_arriving(self, owns: Callable[[str], bool]) -> None:
        for record in await self.store.groups.list_groups():
            if owns(record.group_id) and not self._loaded_for(record.group_id):
                self.groups[record.group_id] = _Group(
                    record.group_id, protocol_type=record.protocol_type or None, generation_id=record.generation_id
                )
        self._loaded_for = owns

    async def stop(self) -> None:
        """Stop coordinating: parked joins and syncs get NOT_COORDINATOR; queued writes are finished."""
        if self._status is _Status.STOPPED:
            return
        self._status = _Status.STOPPED
        for group in self.groups.values():
            self._unload(group)
        if self._writer is not None:
            await self.flush()
            self._writer.cancel()

    async def flush(self) -> None:
        """Wait until every write queued so far is done."""
        await self._writes.join()

    def _unload(self, group: _Group) -> None:
        """As Kafka when a coordinator resigns: parked requests learn to look for the coordinator again."""
        for timer in (group.join_timer, group.sync_timer, *group.pending_members.values()):
            if timer is not None:
                timer.cancel()
        for member in group.members.values():
            _resolve(member.join_waiter, JoinResult(ErrorCode.NOT_COORDINATOR, member.member_id))
            _resolve(member.sync_waiter, SyncResult(ErrorCode.NOT_COORDINATOR))
            member.join_waiter = member.sync_waiter = None
            if member.session_timer is not None:
                member.session_timer.cancel()

    @property
    def active(self) -> bool:
        return self._status is _Status.ACTIVE

    def _status_error(self, group_id: str, empty_id_allowed: bool = False) -> ErrorCode | None:
        # OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups accept "" (Kafka keeps it for
        # old clients); the membership APIs need a real group id.
        if not group_id and not empty_id_allowed:
            return ErrorCode.INVALID_GROUP_ID
        if self._status is _Status.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if self._status is _Status.STOPPED or not self._owns(group_id):
            return ErrorCode.NOT_COORDINATOR
        if not self._loaded_for(group_id):
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return None

    # -- writes, in order ------------------------------------------------------

    async def _write_in_order(self) -> None:
        while True:
            write = await self._writes.get()
            try:
                await write.run()
            except Exception as exc:
                if write.done is None:
                    log.exception("writing a group record failed")
                elif not write.done.done():
                    write.done.set_exception(exc)
            else:
                if write.done is not None and not write.done.done():
                    write.done.set_result(None)
            finally:
                self._writes.task_done()

    def _persist(self, group: _Group) -> None:
        """Queue the group's record as it is now."""
        record = group.record()
        self._writes.put_nowait(_Write(lambda: self.store.groups.save_group(record), None))

    def _queue(self, run: Callable[[], Awaitable[None]]) -> asyncio.Future[None]:
        """Queue a write now (in the order of the state machine's decisions); the future tells its end."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.put_nowait(_Write(run, done))
        return done

    async def _outcome(self, done: asyncio.Future[None]) -> ErrorCode:
        """A queued write's end; an unreachable store is COORDINATOR_NOT_AVAILABLE.

        The store holds what Kafka keeps in __consumer_offsets: when it cannot be reached, the
        coordinator is not available, which clients retry.
        """
        try:
            await done
        except MetadataUnavailableError as exc:
            log.warning("group write failed: %s", exc)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        return ErrorCode.NONE

    # -- JoinGroup ---------------------------------------------------------------

    def join_group(self, request: JoinRequest) -> asyncio.Future[JoinResult]:
        """The join's answer: at once, or when the rebalance completes."""
        error = self._status_error(request.group_id)
        if error is None and not self.min_session_timeout_ms <= request.session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            error = ErrorCode.INVALID_SESSION_TIMEOUT
        if error is not None:
            return _answered(JoinResult(error, request.member_id))
        group = self.groups.get(request.group_id)
        created = group is None
        if group is None:
            # A group is created by a first join only; a member id for an unknown group is stale.
            if request.member_id:
                return _answered(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, request.member_id))
            group = self.groups[request.group_id] = _Group(request.group_id)
        waiter: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        if request.member_id:
            self._join_current_member(group, request, waiter)
        else:
            self._join_new_member(group, request, waiter)
        if group.state is _PREPARING:
            self._maybe_complete_join(group)
        if created and group.state is _EMPTY and not group.pending_members:
            del self.groups[group.group_id]  # a refused first join leaves no group behind
        return waiter

    def _join_new_member(self, group: _Group, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        if group.state is _DEAD:
            _resolve(waiter, JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, ""))
            return
        if not group.supports(request.protocol_type, request.protocols):
            _resolve(waiter, JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, ""))
            return
        member_id = f"{request.group_instance_id or request.client_id}-{uuid.uuid4()}"
        instance_id = request.group_instance_id
        if instance_id is not None and instance_id in group.static_members:
            self._replace_static_member(group, group.static_members[instance_id], member_id, request, waiter)
        elif instance_id is None and request.require_known_member_id:
            # KIP-394: the member must come back with this id, so a retried join cannot leave a
            # ghost member behind; it is forgotten if it does not within its session timeout.
            group.pending_members[member_id] = self.clock.call_later(
                request.session_timeout_ms, lambda: self._expire_pending_member(group, member_id)
            )
            _resolve(waiter, JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id))
        else:
            self._add_member_and_rebalance(group, member_id, request, waiter)

    def _join_current_member(self, group: _Group, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        member_id = request.member_id
        if group.state is _DEAD:
            _resolve(waiter, JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id))
            return
        if not group.supports(request.protocol_type, request.protocols):
            _resolve(waiter, JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id))
            return
        if member_id in group.pending_members and request.group_instance_id is None:
            self._add_member_and_rebalance(group, member_id, request, waiter)
            return
        error = self._member_error(group, member_id, request.group_instance_id)
        if error is not None:
            _resolve(waiter, JoinResult(error, member_id))
            return
        # A known member, so the group has members: PreparingRebalance, CompletingRebalance or Stable.
        member = group.members[member_id]
        if group.state is _PREPARING:
            self._update_member_and_rebalance(group, member, request, waiter)
        elif group.state is _COMPLETING:
            if member.matches(request.protocols):
                # The member lost the join answer (a retry): tell it the same generation again.
                _resolve(waiter, group.join_result(member_id))
            else:
                self._update_member_and_rebalance(group, member, request, waiter)
        elif group.leader_id == member_id or not member.matches(request.protocols):
            # Stable. A leader's join forces a rebalance: it lets the leader react to changes that
            # do not touch its metadata (a subscribed topic gaining partitions).
            self._update_member_and_rebalance(group, member, request, waiter)
        else:
            _resolve(waiter, group.join_result(member_id))

    def _add_member_and_rebalance(
        self, group: _Group, member_id: str, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        member = _Member(
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
        if group.state is _PREPARING and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        self._expect_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, f"member {member_id} joined")

    def _update_member_and_rebalance(
        self, group: _Group, member: _Member, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        self._update_member(member, request, waiter)
        self._maybe_prepare_rebalance(group, f"member {member.member_id} rejoined")

    def _update_member(self, member: _Member, request: JoinRequest, waiter: asyncio.Future[JoinResult]) -> None:
        member.protocols = list(request.protocols)
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.session_timeout_ms = request.session_timeout_ms
        # A join superseded by a newer one of the same member: its client has given up on it.
        _resolve(member.join_waiter, JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        member.join_waiter = waiter

    def _replace_static_member(
        self, group: _Group, old_id: str, new_id: str, request: JoinRequest, waiter: asyncio.Future[JoinResult]
    ) -> None:
        """A static member restarted: it takes over its old member's place, fencing the old instance."""
        old_leader = group.leader_id
        member = group.members[old_id]
        _resolve(member.join_waiter, JoinResult(ErrorCode.FENCED_INSTANCE_ID, old_id))
        _resolve(member.sync_waiter, SyncResult(ErrorCode.FENCED_INSTANCE_ID))
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
        self._expect_heartbeat(group, member, member.session_timeout_ms)
        self._update_member(member, request, waiter)
        if group.state is _STABLE:
            if group.protocol_name != group.select_protocol():
                self._maybe_prepare_rebalance(group, f"static member {new_id} changed the group's protocol")
                return
            # Same protocol: the member keeps its assignment and the group its generation.
            self._persist(group)
            member.join_waiter = None
            if request.supports_skip_assignment:
                # v9+: the leader learns it leads but must not assign again (the group is stable).
                is_leader = group.leader_id == new_id
                _resolve(waiter, group.join_result(new_id, skip_assignment=is_leader))
            else:
                # Older versions: name the old leader id, so no member thinks it must assign.
                _resolve(waiter, group.join_result(new_id, leader=old_leader or ""))
        elif group.state is _COMPLETING:
            # The leader may be assigning for the old member id: start again with the new one.
            self._prepare_rebalance(group, f"static member {new_id} rejoined during a rebalance")

    # -- rebalances ------------------------------------------------------------

    def _maybe_prepare_rebalance(self, group: _Group, reason: str) -> None:
        if group.state in _VALID_PREVIOUS[_PREPARING]:
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: _Group, reason: str) -> None:
        if group.state is _COMPLETING:
            self._propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._clear_pending_sync(group)
        if group.state is _EMPTY:
            # Let more members of a starting group arrive before the first generation is formed.
            group.initial_delay_left_ms = max(group.rebalance_timeout_ms - self.initial_rebalance_delay_ms, 0)
            group.new_member_added = False
            delay = self.initial_rebalance_delay_ms
        else:
            group.initial_delay_left_ms = None
            delay = group.rebalance_timeout_ms
        group.transition(_PREPARING)
        self.rebalances[group.group_id] = self.rebalances.get(group.group_id, 0) + 1
        group.join_timer = self.clock.call_later(delay, lambda: self._on_join_timer(group))
        log.info("group %s preparing to rebalance after generation %d: %s", group, group.generation_id, reason)
        self._maybe_complete_join(group)

    def _maybe_complete_join(self, group: _Group) -> None:
        if group.state is _PREPARING and group.initial_delay_left_ms is None and group.all_members_joined():
            self._complete_join(group)

    def _on_join_timer(self, group: _Group) -> None:
        group.join_timer = None
        left = group.initial_delay_left_ms
        if left is not None and left > 0 and group.new_member_added:
            group.new_member_added = False
            delay = min(self.initial_rebalance_delay_ms, left)
            group.initial_delay_left_ms = left - delay
            group.join_timer = self.clock.call_later(delay, lambda: self._on_join_timer(group))
            return
        self._complete_join(group)

    def _complete_join(self, group: _Group) -> None:
        if group.join_timer is not None:
            group.join_timer.cancel()
            group.join_timer = None
        group.initial_delay_left_ms = None
        laggards = [m for m in group.members.values() if m.join_waiter is None and m.group_instance_id is None]
        for member in laggards:
            log.info("group %s: member %s did not rejoin in time", group, member.member_id)
            self._drop_member(group, member)
        if not group.members:
            group.generation_id += 1
            group.protocol_name = None
            group.subscribed_topics = group.compute_subscribed_topics()
            group.transition(_EMPTY)
            self._persist(group)
            log.info("group %s is empty at generation %d", group, group.generation_id)
            return
        if not self._elect_joined_leader(group):
            # Only static members that did not rejoin are left: wait for them, or for their sessions to end.
            group.join_timer = self.clock.call_later(group.rebalance_timeout_ms, lambda: self._on_join_timer(group))
            return
        group.generation_id += 1
        group.protocol_name = group.select_protocol()
        group.subscribed_topics = group.compute_subscribed_topics()
        group.transition(_COMPLETING)
        self._persist(group)
        log.info(
            "group %s formed generation %d with %d members, protocol %s",
            group,
            group.generation_id,
            len(group.members),
            group.protocol_name,
        )
        for member in group.members.values():
            _resolve(member.join_waiter, group.join_result(member.member_id))
            member.join_waiter = None
            member.is_new = False
            self._expect_heartbeat(group, member, member.session_timeout_ms)
            group.pending_sync.add(member.member_id)
        group.sync_timer = self.clock.call_later(group.rebalance_timeout_ms, lambda: self._on_sync_timer(group))

    def _elect_joined_leader(self, group: _Group) -> bool:
        """Keep a leader that rejoined, else make any rejoined member the leader; False if none rejoined."""
        leader = group.members.get(group.leader_id or "")
        if leader is not None and leader.join_waiter is not None:
            return True
        joined = next((m for m in group.members.values() if m.join_waiter is not None), None)
        if joined is None:
            return False
        group.leader_id = joined.member_id
        return True

    def _on_sync_timer(self, group: _Group) -> None:
        # Still this generation with members missing: a rebalance or the last sync cancels the timer.
        group.sync_timer = None
        missing = sorted(group.pending_sync)
        for member_id in missing:
            self._drop_member(group, group.members[member_id])
        self._prepare_rebalance(group, f"members {', '.join(missing)} did not sync in time")

    def _clear_pending_sync(self, group: _Group) -> None:
        group.pending_sync.clear()
        if group.sync_timer is not None:
            group.sync_timer.cancel()
            group.sync_timer = None

    def _synced(self, group: _Group, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            self._clear_pending_sync(group)

    def _propagate_assignment_error(self, group: _Group, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            if member.sync_waiter is not None:
                _resolve(member.sync_waiter, SyncResult(error))
                member.sync_waiter = None
                self._expect_heartbeat(group, member, member.session_timeout_ms)

    # -- members' sessions -------------------------------------------------------

    def _expect_heartbeat(self, group: _Group, member: _Member, timeout_ms: int) -> None:
        """The member is alive now; it must show it again within timeout_ms."""
        if member.session_timer is not None:
            member.session_timer.cancel()
        member.session_timer = self.clock.call_later(timeout_ms, lambda: self._on_session_timeout(group, member))

    def _on_session_timeout(self, group: _Group, member: _Member) -> None:
        # Still a member: removing one cancels its timer.
        member.session_timer = None
        if member.awaiting and not member.is_new:
            return  # a member waiting for the rebalance to finish is alive; it is expected again afterwards
        log.info("group %s: member %s's session expired", group, member.member_id)
        self._remove_member_and_update_group(group, member)

    def _expire_pending_member(self, group: _Group, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is not None:
            self._maybe_complete_join(group)

    def _drop_member(self, group: _Group, member: _Member) -> None:
        """Remove a member; its parked requests learn it is gone, so its client joins again."""
        _resolve(member.join_waiter, JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, ""))
        _resolve(member.sync_waiter, SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        member.join_waiter = member.sync_waiter = None
        group.remove(member.member_id)

    def _remove_member_and_update_group(self, group: _Group, member: _Member) -> None:
        self._drop_member(group, member)
        if group.state in (_STABLE, _COMPLETING):
            self._maybe_prepare_rebalance(group, f"member {member.member_id} left")
        elif group.state is _PREPARING:
            self._maybe_complete_join(group)

    def _member_error(self, group: _Group, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
        """A static member's instance id must map to this member id; any member id must be a member."""
        if group_instance_id is not None:
            current = group.static_members.get(group_instance_id)
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if current != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in group.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return None

    def _generation_error(
        self, group: _Group, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode | None:
        if group.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE  # being deleted: the client looks again and retries
        error = self._member_error(group, member_id, group_instance_id)
        if error is None and generation_id != group.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        return error

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
        error = self._status_error(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            # The rebalance this sync belongs to is lost with the old state: rejoin without looking
            # for the coordinator again (older clients do not expect COORDINATOR_LOAD_IN_PROGRESS).
            error = ErrorCode.REBALANCE_IN_PROGRESS
        group = self.groups.get(group_id)
        if error is None and group is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        if error is None and group is not None:
            error = self._generation_error(group, generation_id, member_id, group_instance_id)
            if error is None and (
                (protocol_type is not None and protocol_type != group.protocol_type)
                or (protocol_name is not None and protocol_name != group.protocol_name)
            ):
                error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if error is not None:
            return _answered(SyncResult(error))
        assert group is not None  # and has this member, so it is not Empty
        if group.state is _PREPARING:
            return _answered(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        self._synced(group, member_id)
        if group.state is _STABLE:
            self._expect_heartbeat(group, member, member.session_timeout_ms)
            return _answered(SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name))
        waiter: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        _resolve(member.sync_waiter, SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))  # superseded by this one
        member.sync_waiter = waiter
        if group.leader_id == member_id:
            self._complete_sync(group, assignments)
        return waiter

    def _complete_sync(self, group: _Group, assignments: Mapping[str, bytes]) -> None:
        """The leader's assignments reach every member (an empty one for members it left out)."""
        missing = [member_id for member_id in group.members if member_id not in assignments]
        if missing:
            log.warning("group %s: the leader assigned nothing to %s", group, ", ".join(missing))
        for member in group.members.values():
            member.assignment = assignments.get(member.member_id, b"")
            if member.sync_waiter is not None:
                _resolve(
                    member.sync_waiter,
                    SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name),
                )
                member.sync_waiter = None
                self._expect_heartbeat(group, member, member.session_timeout_ms)
        group.transition(_STABLE)
        self._persist(group)
        log.info("group %s is stable at generation %d", group, group.generation_id)

    def heartbeat(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None) -> ErrorCode:
        error = self._status_error(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return ErrorCode.NONE  # as Kafka: nothing to check against yet; the member stays put
        if error is not None:
            return error
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        error = self._generation_error(group, generation_id, member_id, group_instance_id)
        if error is not None:
            return error
        member = group.members[member_id]
        self._expect_heartbeat(group, member, member.session_timeout_ms)
        if group.state is _PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(
        self, group_id: str, leaving: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """(top-level error, one error per (member id, group instance id) leaving)."""
        error = self._status_error(group_id)
        if error is not None:
            return error, []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(leaving)
        if group.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        return ErrorCode.NONE, [self._leave(group, member_id, instance_id) for member_id, instance_id in leaving]

    def _leave(self, group: _Group, member_id: str, group_instance_id: str | None) -> ErrorCode:
        if not member_id:
            # An administrator removing a static member by its instance id alone.
            current = group.static_members.get(group_instance_id) if group_instance_id is not None else None
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            member_id = current
        elif member_id in group.pending_members:
            group.remove(member_id)
            self._maybe_complete_join(group)
            return ErrorCode.NONE
        else:
            error = self._member_error(group, member_id, group_instance_id)
            if error is not None:
                return error
        log.info("group %s: member %s left", group, member_id)
        self._remove_member_and_update_group(group, group.members[member_id])
        return ErrorCode.NONE

    # -- offsets -----------------------------------------------------------------

    async def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: Sequence[CommittedOffset],
    ) -> list[ErrorCode]:
        """One error per offset, in order; the accepted ones are stored together."""
        error = self.admit_commit(group_id, generation_id, member_id, group_instance_id)
        if error is not None:
            return [error] * len(offsets)
        now = self.clock.now_ms()
        errors = [
            ErrorCode.OFFSET_METADATA_TOO_LARGE if len(o.metadata) > OFFSET_METADATA_MAX_BYTES else ErrorCode.NONE
            for o in offsets
        ]
        accepted = [
            CommittedOffset(o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, now)
            for o, error in zip(offsets, errors, strict=True)
            if error is ErrorCode.NONE
        ]
        stored = await self._outcome(self._queue(lambda: self.store.groups.commit_offsets(group_id, accepted)))
        return [error or stored for error in errors]

    def admit_commit(
        self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode | None:
        """Why the committer may not commit offsets to the group now, or None (OffsetCommit, TxnOffsetCommit).

        A commit with generation -1 to a group this broker does not know creates it, empty.
        """
        error = self._status_error(group_id, empty_id_allowed=True)
        group = self.groups.get(group_id)
        if error is None and group is None:
            if generation_id >= 0:
                error = ErrorCode.ILLEGAL_GENERATION  # a member of a generation this broker never had
            else:
                # A consumer that assigns its partitions itself keeps its offsets in a group of its own.
                group = self.groups[group_id] = _Group(group_id)
                self._persist(group)
        if error is None and group is not None:
            error = self._commit_error(group, generation_id, member_id, group_instance_id)
        if error is not None or group is None:
            return error
        if group.state in (_STABLE, _PREPARING):  # then the committer is a validated member
            member = group.members[member_id]
            self._expect_heartbeat(group, member, member.session_timeout_ms)
        return None

    def _commit_error(
        self, group: _Group, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode | None:
        if group.state is _DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.state is _EMPTY:
            return None  # an admin client, or a consumer without group management
        if generation_id < 0 and not member_id and group_instance_id is None:
            return ErrorCode.UNKNOWN_MEMBER_ID  # only members commit to a group that has some
        error = self._generation_error(group, generation_id, member_id, group_instance_id)
        if error is None and group.state is _COMPLETING:
            # A member of the new generation that has not synced yet: its assignment may change.
            return ErrorCode.REBALANCE_IN_PROGRESS
        return error

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None
    ) -> tuple[ErrorCode, list[CommittedOffset]]:
        """The group's committed offsets of `partitions` (all when None), whatever the group's state.

        Offsets pending in an open transaction are not among them until it commits.
        """
        error = self._status_error(group_id, empty_id_allowed=True)
        if error is not None:
            return error, []
        group = self.groups.get(group_id)
        if group is None or group.state is _DEAD:
            return ErrorCode.NONE, []
        try:
            return ErrorCode.NONE, await self.store.groups.fetch_offsets(group_id, partitions)
        except MetadataUnavailableError as exc:
            log.warning("fetching offsets of group %s failed: %s", group_id, exc)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []

    async def delete_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """(group error, one error per partition); a consumer group keeps offsets of topics it reads."""
        error = self._status_error(group_id, empty_id_allowed=True)
        group = self.groups.get(group_id)
        if error is None and (group is None or group.state is _DEAD):
            error = ErrorCode.GROUP_ID_NOT_FOUND
        if (
            error is None
            and group is not None
            and group.state is not _EMPTY
            and group.protocol_type != consumer_protocol.PROTOCOL_TYPE
        ):
            error = ErrorCode.NON_EMPTY_GROUP  # only a consumer group's subscriptions can be read
        if error is not None:
            return error, []
        assert group is not None
        subscribed = group.subscribed_topics
        errors = [
            ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            if group.state is not _EMPTY and (subscribed is None or topic in subscribed)
            else ErrorCode.NONE
            for topic, _ in partitions
        ]
        deletable = [tp for tp, error in zip(partitions, errors, strict=True) if error is ErrorCode.NONE]
        if deletable:
            stored = await self._outcome(self._queue(lambda: self.store.groups.delete_offsets(group_id, deletable)))
            if stored is not ErrorCode.NONE:
                return stored, []
        return ErrorCode.NONE, errors

    # -- describing, listing, deleting groups ---------------------------------------

    def describe_group(self, group_id: str) -> tuple[ErrorCode, GroupSummary]:
        error = self._status_error(group_id, empty_id_allowed=True)
        if error is not None:
            return error, GroupSummary("", "", "")
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, GroupSummary(_DEAD.value, "", "")
        if group.state is _STABLE:
            assert group.protocol_name is not None
            members = tuple(
                MemberSummary(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.metadata(group.protocol_name),
                    m.assignment,
                )
                for m in group.members.values()
            )
            return ErrorCode.NONE, GroupSummary(
                group.state.value, group.protocol_type or "", group.protocol_name, members
            )
        members = tuple(
            MemberSummary(m.member_id, m.group_instance_id, m.client_id, m.client_host, b"", b"")
            for m in group.members.values()
        )
        return ErrorCode.NONE, GroupSummary(group.state.value, group.protocol_type or "", "", members)

    def list_groups(self, states: Collection[str] = ()) -> tuple[ErrorCode, list[GroupOverview]]:
        """Every group, or those in one of `states` (any case), by group id."""
        if self._status is _Status.STOPPED:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        wanted = {state.lower() for state in states}
        groups = [
            GroupOverview(group.group_id, group.protocol_type or "", group.state.value)
            for group in sorted(self.groups.values(), key=lambda g: g.group_id)
            if not wanted or group.state.value.lower() in wanted
        ]
        if self._status is _Status.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, groups
        return ErrorCode.NONE, groups

    async def delete_groups(self, group_ids: Sequence[str]) -> dict[str, ErrorCode]:
        """One error per distinct group id; only Empty groups are deleted, with their offsets."""
        results: dict[str, ErrorCode] = {}
        deleting: list[tuple[_Group, asyncio.Future[None]]] = []
        for group_id in dict.fromkeys(group_ids):
            error = self._status_error(group_id, empty_id_allowed=True)
            group = self.groups.get(group_id)
            if error is None and (group is None or group.state is _DEAD):
                error = ErrorCode.GROUP_ID_NOT_FOUND
            if error is None and group is not None and group.state is not _EMPTY:
                error = ErrorCode.NON_EMPTY_GROUP
            if error is not None:
                results[group_id] = error
                continue
            assert group is not None
            group.transition(_DEAD)  # requests meanwhile get COORDINATOR_NOT_AVAILABLE and retry
            deleting.append((group, self._queue(partial(self.store.groups.delete_group, group_id))))
        for group, done in deleting:
            error = results[group.group_id] = await self._outcome(done)
            if error is ErrorCode.NONE:
                del self.groups[group.group_id]
                log.info("group %s deleted", group)
            else:
                group.state = _EMPTY  # still stored as it was: keep serving it
        return results
