"""The group coordinator's state machine, driven by hand with a fake clock: no test sleeps.

Joins and syncs return futures; whether they are answered yet, and with what, is checked right
after each call or clock step. The metadata store is a real SQLite one (in memory, or a file
where a restart is part of the test).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamhouse.broker.groups.admin import GroupSummary
from streamhouse.broker.groups.coordinator import GroupCoordinator
from streamhouse.broker.groups.membership import (
    MAX_SESSION_TIMEOUT_MS,
    MIN_SESSION_TIMEOUT_MS,
    NEW_MEMBER_JOIN_TIMEOUT_MS,
)
from streamhouse.broker.groups.offsets import OFFSET_METADATA_MAX_BYTES
from streamhouse.broker.groups.state import JoinRequest, JoinResult, SyncResult
from streamhouse.broker.groups.table import every_group
from streamhouse.metadata.base import CommittedOffset, GroupRecord
from streamhouse.metadata.sqlite import SqliteMetadataStore
from streamhouse.metadata.sqlite.database import SqliteDatabase
from streamhouse.metadata.sqlite.groups import SqliteGroups
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.errors import ErrorCode

E = ErrorCode
SESSION = 10_000
REBALANCE = 30_000
START_MS = 1_700_000_000_000


@dataclass
class FakeTimer:
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    """Timers fire only when a test advances the clock, in order of their due time."""

    now: int = START_MS
    _due: list[tuple[int, int, FakeTimer]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def now_ms(self) -> int:
        return self.now

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        heapq.heappush(self._due, (self.now + delay_ms, next(self._order), timer))
        return timer

    def advance(self, ms: int) -> None:
        target = self.now + ms
        while self._due and self._due[0][0] <= target:
            due, _, timer = heapq.heappop(self._due)
            if not timer.cancelled:
                self.now = due
                timer.callback()
        self.now = target


@dataclass
class World:
    coordinator: GroupCoordinator
    clock: FakeClock
    store: SqliteMetadataStore


async def open_world(path: str = ":memory:", delay_ms: int = 0, owns: Callable[[str], bool] = every_group) -> World:
    store = SqliteMetadataStore(path)
    await store.start()
    clock = FakeClock()
    coordinator = GroupCoordinator(store, clock, initial_rebalance_delay_ms=delay_ms)
    await coordinator.start(owns)
    return World(coordinator, clock, store)


async def close_world(world: World) -> None:
    await world.coordinator.stop()
    await world.store.close()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    opened = await open_world()
    yield opened
    await close_world(opened)


def subscription(*topics: str) -> bytes:
    return consumer_protocol.encode(consumer_protocol.SUBSCRIPTION, consumer_protocol.Subscription(topics=list(topics)))


META = subscription("t")


def join(
    world: World,
    member_id: str = "",
    *,
    group: str = "g",
    instance: str | None = None,
    protocols: Sequence[tuple[str, bytes]] = (("range", META),),
    protocol_type: str = "consumer",
    session: int = SESSION,
    rebalance: int = REBALANCE,
    require_id: bool = False,
    skip_assignment: bool = True,
    client: str = "client",
) -> asyncio.Future[JoinResult]:
    return world.coordinator.join_group(
        JoinRequest(
            group_id=group,
            member_id=member_id,
            group_instance_id=instance,
            client_id=client,
            client_host="/127.0.0.1",
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            protocol_type=protocol_type,
            protocols=list(protocols),
            require_known_member_id=require_id,
            supports_skip_assignment=skip_assignment,
        )
    )


def sync(
    world: World,
    member_id: str,
    generation: int,
    assignments: dict[str, bytes] | None = None,
    *,
    group: str = "g",
    instance: str | None = None,
    protocol_type: str | None = None,
    protocol_name: str | None = None,
) -> asyncio.Future[SyncResult]:
    return world.coordinator.sync_group(
        group, generation, member_id, instance, protocol_type, protocol_name, assignments or {}
    )


def heartbeat(world: World, member_id: str, generation: int, group: str = "g", instance: str | None = None) -> E:
    return world.coordinator.heartbeat(group, generation, member_id, instance)


def answer(future: asyncio.Future[JoinResult]) -> JoinResult:
    assert future.done(), "the join is still parked"
    return future.result()


def synced(future: asyncio.Future[SyncResult]) -> SyncResult:
    assert future.done(), "the sync is still parked"
    return future.result()


def state(world: World, group: str = "g") -> str:
    return world.coordinator.describe_group(group)[1].state


async def commit(
    world: World,
    generation: int = -1,
    member_id: str = "",
    offsets: Sequence[CommittedOffset] = (CommittedOffset("t", 0, 5),),
    *,
    group: str = "g",
    instance: str | None = None,
) -> list[E]:
    return await world.coordinator.commit_offsets(group, generation, member_id, instance, offsets)


async def stable_group(world: World, count: int = 2, group: str = "g", **options: object) -> tuple[list[str], int]:
    """`count` members through a first rebalance and their syncs: (member ids, leader first; generation)."""
    joins = [join(world, group=group, client=f"m{n}", **options) for n in range(count)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    assert all(result.error is E.NONE for result in results), results
    leader = results[0].leader
    ids = [leader] + [r.member_id for r in results if r.member_id != leader]
    generation = results[0].generation_id
    syncs = [sync(world, member_id, generation, group=group) for member_id in ids[1:]]
    syncs.append(sync(world, leader, generation, {m: m.encode() for m in ids}, group=group))
    assert all(synced(future).error is E.NONE for future in syncs)
    assert state(world, group) == "Stable"
    return ids, generation


# -- joining: member ids, protocols, errors ---------------------------------------------


async def test_first_join_gets_a_member_id_then_joins_with_it(world: World) -> None:
    first = answer(join(world, require_id=True, client="app"))
    assert first.error is E.MEMBER_ID_REQUIRED
    assert first.member_id.startswith("app-")
    assert state(world) == "Empty"
    future = join(world, first.member_id, require_id=True)
    assert state(world) == "PreparingRebalance"
    world.clock.advance(0)
    result = answer(future)
    assert (result.error, result.generation_id, result.leader) == (E.NONE, 1, first.member_id)
    assert (result.protocol_type, result.protocol_name) == ("consumer", "range")
    assert [m.member_id for m in result.members] == [first.member_id]
    assert state(world) == "CompletingRebalance"


async def test_static_members_need_no_member_id_round(world: World) -> None:
    future = join(world, instance="host-1", require_id=True)
    world.clock.advance(0)
    result = answer(future)
    assert result.error is E.NONE and result.member_id.startswith("host-1-")


@pytest.mark.parametrize("timeout", [MIN_SESSION_TIMEOUT_MS - 1, MAX_SESSION_TIMEOUT_MS + 1])
async def test_session_timeout_outside_the_bounds(world: World, timeout: int) -> None:
    assert answer(join(world, session=timeout)).error is E.INVALID_SESSION_TIMEOUT
    assert world.coordinator.list_groups() == (E.NONE, [])


async def test_join_refusals(world: World) -> None:
    assert answer(join(world, group="")).error is E.INVALID_GROUP_ID
    assert answer(join(world, "stale-id", group="unknown")).error is E.UNKNOWN_MEMBER_ID
    assert answer(join(world, protocol_type="")).error is E.INCONSISTENT_GROUP_PROTOCOL
    assert answer(join(world, protocols=())).error is E.INCONSISTENT_GROUP_PROTOCOL
    assert world.coordinator.list_groups() == (E.NONE, [])  # a refused first join leaves no group
    ids, _ = await stable_group(world)
    other_type = answer(join(world, protocol_type="connect"))
    assert (other_type.error, other_type.member_id) == (E.INCONSISTENT_GROUP_PROTOCOL, "")
    assert answer(join(world, protocols=[("sticky", b"")])).error is E.INCONSISTENT_GROUP_PROTOCOL
    assert answer(join(world, ids[0], protocols=[("sticky", b"")])).error is E.INCONSISTENT_GROUP_PROTOCOL
    assert answer(join(world, "not-a-member")).error is E.UNKNOWN_MEMBER_ID
    assert state(world) == "Stable"


async def test_the_protocol_with_most_votes_among_common_ones_wins(world: World) -> None:
    preferences = [["roundrobin", "range", "sticky"], ["range", "roundrobin"], ["roundrobin", "range"]]
    joins = [join(world, protocols=[(name, name.encode()) for name in names]) for names in preferences]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    assert {r.protocol_name for r in results} == {"roundrobin"}
    leader = next(r for r in results if r.members)
    assert {m.metadata for m in leader.members} == {b"roundrobin"}


async def test_protocol_vote_tie_goes_to_the_first_voted(world: World) -> None:
    joins = [join(world, protocols=[("b", b""), ("a", b"")]), join(world, protocols=[("a", b""), ("b", b"")])]
    world.clock.advance(0)
    assert {answer(future).protocol_name for future in joins} == {"b"}


# -- the initial rebalance delay -------------------------------------------------------


async def test_initial_delay_waits_and_extends_while_members_arrive() -> None:
    world = await open_world(delay_ms=3000)
    try:
        first = join(world, rebalance=10_000)
        world.clock.advance(2000)
        second = join(world, rebalance=10_000)
        world.clock.advance(1000)  # the first delay ends, but a member arrived during it
        assert not first.done() and not second.done()
        world.clock.advance(2999)
        assert not first.done()
        world.clock.advance(1)
        assert answer(first).generation_id == answer(second).generation_id == 1
        assert len(answer(first).members) + len(answer(second).members) == 2
    finally:
        await close_world(world)


async def test_initial_delay_ends_within_the_rebalance_timeout() -> None:
    world = await open_world(delay_ms=3000)
    try:
        first = join(world, rebalance=7000)
        while not first.done():  # a new member every 2 s would extend the delay forever
            world.clock.advance(1000)
            if (world.clock.now - START_MS) % 2000 == 0:
                join(world, rebalance=7000)
        assert world.clock.now - START_MS == 7000
        assert answer(first).generation_id == 1
    finally:
        await close_world(world)


async def test_initial_delay_applies_to_an_empty_group_that_had_generations() -> None:
    world = await open_world(delay_ms=3000)
    try:
        future = join(world)
        world.clock.advance(3000)
        result = answer(future)
        assert world.coordinator.leave_group("g", [(result.member_id, None)]) == (E.NONE, [E.NONE])
        assert state(world) == "Empty"
        again = join(world)
        world.clock.advance(2999)
        assert not again.done()
        world.clock.advance(1)
        assert answer(again).generation_id == 3
    finally:
        await close_world(world)


# -- rebalances of a stable group ----------------------------------------------------


async def test_new_member_triggers_a_rebalance_all_rejoin_then_generation_two(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    newcomer = join(world)
    assert state(world) == "PreparingRebalance"
    assert heartbeat(world, follower, generation) is E.REBALANCE_IN_PROGRESS
    assert heartbeat(world, leader, generation) is E.REBALANCE_IN_PROGRESS
    follower_join = join(world, follower)
    assert not follower_join.done()
    leader_join = join(world, leader)
    results = [answer(future) for future in (newcomer, follower_join, leader_join)]
    assert {r.generation_id for r in results} == {generation + 1}
    assert {r.leader for r in results} == {leader}
    assert [len(r.members) for r in results] == [0, 0, 3]
    assert state(world) == "CompletingRebalance"
    assert heartbeat(world, follower, generation + 1) is E.NONE


async def test_rebalance_timeout_evicts_dynamic_members_that_did_not_rejoin(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    leader_join = join(world, leader, protocols=[("range", b"new metadata")])
    for _ in range(REBALANCE // 5000 - 1):
        world.clock.advance(5000)
        assert heartbeat(world, follower, generation) is E.REBALANCE_IN_PROGRESS  # alive, but not rejoining
    assert not leader_join.done()
    world.clock.advance(5000)
    result = answer(leader_join)
    assert (result.generation_id, [m.member_id for m in result.members]) == (generation + 1, [leader])
    assert heartbeat(world, follower, generation) is E.UNKNOWN_MEMBER_ID


async def test_leader_that_did_not_rejoin_is_replaced(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    follower_join = join(world, follower, protocols=[("range", b"changed")])
    assert heartbeat(world, leader, generation) is E.REBALANCE_IN_PROGRESS
    world.clock.advance(REBALANCE)
    result = answer(follower_join)
    assert result.leader == follower and [m.member_id for m in result.members] == [follower]


async def test_a_static_member_outlives_the_rebalance_timeout_not_its_absence() -> None:
    world = await open_world()
    try:
        static_join = join(world, instance="s", session=SESSION, rebalance=MIN_SESSION_TIMEOUT_MS)
        dynamic_join = join(world, session=60_000, rebalance=MIN_SESSION_TIMEOUT_MS)
        world.clock.advance(0)
        static, dynamic = answer(static_join), answer(dynamic_join)
        generation = static.generation_id
        leader = static.leader
        assigned = {static.member_id: b"s", dynamic.member_id: b"d"}
        other = dynamic.member_id if leader == static.member_id else static.member_id
        follower_sync = sync(world, other, generation)
        synced(sync(world, leader, generation, assigned))
        synced(follower_sync)
        # The dynamic member changes its metadata; the static one is gone without a word.
        rejoin = join(world, dynamic.member_id, session=60_000, rebalance=MIN_SESSION_TIMEOUT_MS,
                      protocols=[("range", b"new")])  # fmt: skip
        world.clock.advance(MIN_SESSION_TIMEOUT_MS)  # rebalance timeout: the static member is kept...
        result = answer(rejoin)
        assert {m.member_id for m in result.members} == {static.member_id, dynamic.member_id}
        assert result.leader == dynamic.member_id  # ...but cannot lead: it did not rejoin
        synced(sync(world, dynamic.member_id, result.generation_id, {}))
        world.clock.advance(MIN_SESSION_TIMEOUT_MS)  # ...until it fails to sync in time too
        assert state(world) == "PreparingRebalance"
        members = world.coordinator.describe_group("g")[1].members
        assert [m.member_id for m in members] == [dynamic.member_id]
    finally:
        await close_world(world)


async def test_static_members_that_do_not_rejoin_hold_the_rebalance_until_their_sessions_end() -> None:
    world = await open_world()
    try:
        static = [join(world, instance=f"s{n}", rebalance=MIN_SESSION_TIMEOUT_MS) for n in (1, 2)]
        dynamic = join(world, rebalance=MIN_SESSION_TIMEOUT_MS)
        world.clock.advance(0)
        results = [answer(future) for future in (*static, dynamic)]
        leader, generation = results[0].leader, results[0].generation_id
        syncs = [sync(world, r.member_id, generation) for r in results[1:]]
        synced(sync(world, leader, generation, {}))
        assert all(synced(future).error is E.NONE for future in syncs)
        world.coordinator.leave_group("g", [(answer(dynamic).member_id, None)])
        world.clock.advance(MIN_SESSION_TIMEOUT_MS)  # nobody rejoined: no generation without a leader
        assert state(world) == "PreparingRebalance"
        assert len(world.coordinator.describe_group("g")[1].members) == 2
        world.clock.advance(SESSION - MIN_SESSION_TIMEOUT_MS)  # their sessions end
        assert state(world) == "Empty"
    finally:
        await close_world(world)


async def test_a_rebalance_answers_the_syncs_of_the_generation_it_ends(world: World) -> None:
    joins = [join(world), join(world)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    follower = next(r.member_id for r in results if r.member_id != r.leader)
    parked = sync(world, follower, results[0].generation_id)
    join(world)
    assert synced(parked).error is E.REBALANCE_IN_PROGRESS
    assert state(world) == "PreparingRebalance"


async def test_join_during_completing_rebalance(world: World) -> None:
    first, second = join(world), join(world)
    world.clock.advance(0)
    a, b = answer(first), answer(second)
    again = answer(join(world, b.member_id))  # the same metadata: a lost answer, told again
    assert (again.generation_id, again.leader) == (a.generation_id, a.leader)
    changed = join(world, b.member_id, protocols=[("range", b"other")])
    assert state(world) == "PreparingRebalance" and not changed.done()
    leader_sync = sync(world, a.leader, a.generation_id, {})
    assert synced(leader_sync).error is E.REBALANCE_IN_PROGRESS


async def test_join_of_a_stable_follower_and_of_the_leader(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    same = answer(join(world, follower))
    assert (same.error, same.generation_id, same.members) == (E.NONE, generation, ())
    assert state(world) == "Stable"
    join(world, leader)  # a leader's join forces a rebalance
    assert state(world) == "PreparingRebalance"


async def test_a_newer_join_of_the_same_member_supersedes_the_parked_one(world: World) -> None:
    (leader, follower), _ = await stable_group(world)
    first = join(world, follower, protocols=[("range", b"x")])
    second = join(world, follower, protocols=[("range", b"y")])
    assert answer(first).error is E.REBALANCE_IN_PROGRESS
    join(world, leader)
    assert answer(second).error is E.NONE


# -- SyncGroup -------------------------------------------------------------------


async def test_sync_delivers_the_leaders_assignments_to_every_member(world: World) -> None:
    joins = [join(world) for _ in range(3)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    generation, leader = results[0].generation_id, results[0].leader
    followers = [r.member_id for r in results if r.member_id != leader]
    waiting = [sync(world, member_id, generation) for member_id in followers]
    assert not any(future.done() for future in waiting)
    own = sync(world, leader, generation, {leader: b"L", followers[0]: b"F0", "stranger": b"?"})
    assert synced(own) == SyncResult(E.NONE, b"L", "consumer", "range")
    assert [synced(future).assignment for future in waiting] == [b"F0", b""]  # left out: empty
    assert state(world) == "Stable"
    late = synced(sync(world, followers[0], generation))  # a sync to a stable group: the same again
    assert late.assignment == b"F0"


async def test_sync_refusals(world: World) -> None:
    assert synced(sync(world, "m", 1, group="")).error is E.INVALID_GROUP_ID
    assert synced(sync(world, "m", 1, group="unknown")).error is E.UNKNOWN_MEMBER_ID
    (_, follower), generation = await stable_group(world)
    assert synced(sync(world, "stranger", generation)).error is E.UNKNOWN_MEMBER_ID
    assert synced(sync(world, follower, generation + 1)).error is E.ILLEGAL_GENERATION
    wrong_type = sync(world, follower, generation, protocol_type="connect", protocol_name="range")
    assert synced(wrong_type).error is E.INCONSISTENT_GROUP_PROTOCOL
    wrong_name = sync(world, follower, generation, protocol_type="consumer", protocol_name="sticky")
    assert synced(wrong_name).error is E.INCONSISTENT_GROUP_PROTOCOL
    right = sync(world, follower, generation, protocol_type="consumer", protocol_name="range")
    assert synced(right).error is E.NONE
    join(world)
    assert synced(sync(world, follower, generation)).error is E.REBALANCE_IN_PROGRESS


async def test_members_that_do_not_sync_in_time_are_evicted(world: World) -> None:
    joins = [join(world), join(world)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    leader = results[0].leader
    follower = next(r.member_id for r in results if r.member_id != leader)
    generation = results[0].generation_id
    synced(sync(world, leader, generation, {leader: b"L", follower: b"F"}))
    for _ in range(REBALANCE // 5000):  # the follower heartbeats but never syncs
        world.clock.advance(5000)
        heartbeat(world, leader, generation)
        heartbeat(world, follower, generation)
    assert state(world) == "PreparingRebalance"
    assert [m.member_id for m in world.coordinator.describe_group("g")[1].members] == [leader]


async def test_a_generation_nobody_syncs_ends_and_the_group_empties(world: World) -> None:
    joins = [join(world), join(world)]
    world.clock.advance(0)
    generation = answer(joins[0]).generation_id
    assert state(world) == "CompletingRebalance"
    for _ in range(REBALANCE // 5000):  # alive, but the leader never assigns and nobody syncs
        world.clock.advance(5000)
        for future in joins:
            heartbeat(world, answer(future).member_id, generation)
    assert state(world) == "Empty"  # both evicted: a rebalance without members ends at once
    await world.coordinator.flush()
    assert [(r.generation_id, r.state) for r in await world.store.groups.list_groups()] == [(generation + 1, "Empty")]


async def test_a_newer_sync_of_the_same_member_supersedes_the_parked_one(world: World) -> None:
    joins = [join(world), join(world)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    follower = next(r.member_id for r in results if r.member_id != r.leader)
    first = sync(world, follower, results[0].generation_id)
    second = sync(world, follower, results[0].generation_id)
    assert synced(first).error is E.REBALANCE_IN_PROGRESS and not second.done()


# -- heartbeats and sessions ------------------------------------------------------


async def test_heartbeats_keep_a_member_and_silence_expires_it(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    for _ in range(3):
        world.clock.advance(SESSION - 1)
        assert heartbeat(world, follower, generation) is E.NONE
        assert heartbeat(world, leader, generation) is E.NONE
    world.clock.advance(SESSION - 1)
    assert heartbeat(world, leader, generation) is E.NONE
    world.clock.advance(1)  # the follower's session ends
    assert heartbeat(world, leader, generation) is E.REBALANCE_IN_PROGRESS
    assert heartbeat(world, follower, generation) is E.UNKNOWN_MEMBER_ID
    result = answer(join(world, leader))  # all remaining members rejoined: at once
    assert (result.generation_id, [m.member_id for m in result.members]) == (generation + 1, [leader])


async def test_a_leader_silent_after_rejoining_alone_is_expired_and_can_join_again(world: World) -> None:
    # The broker's side of a kafka-python 3.0 member that never took up its own finished rejoin
    # (tests/e2e/group_worker.py, resume_orphaned_join): it neither heartbeats nor rejoins.
    def joined(client: str) -> str:
        return answer(join(world, require_id=True, client=client)).member_id

    leader = joined("kp-2")
    first = join(world, leader, require_id=True)
    world.clock.advance(0)
    assert answer(first).generation_id == 1
    assert synced(sync(world, leader, 1, {leader: b"none yet"})).error is E.NONE
    # The leader's metadata grew after its first assignment: it rejoins, alone, at once.
    rejoin = answer(join(world, leader, require_id=True))
    assert (rejoin.generation_id, rejoin.leader) == (2, leader)
    assert synced(sync(world, leader, 2, {leader: b"all"})).error is E.NONE
    newcomers = [joined("kp-3"), joined("kp-1")]
    parked = [join(world, member_id, require_id=True) for member_id in newcomers]
    assert state(world) == "PreparingRebalance"
    world.clock.advance(SESSION - 1)
    assert not any(future.done() for future in parked)  # the leader's session is not over yet
    world.clock.advance(1)
    results = [answer(future) for future in parked]
    assert {(r.error, r.generation_id) for r in results} == {(E.NONE, 3)}
    assert sorted(m.member_id for m in results[0].members) == sorted(newcomers)
    assert heartbeat(world, leader, 2) is E.UNKNOWN_MEMBER_ID
    assert answer(join(world, leader, require_id=True)).error is E.UNKNOWN_MEMBER_ID
    assert answer(join(world, require_id=True, client="kp-2")).error is E.MEMBER_ID_REQUIRED


async def test_heartbeat_refusals(world: World) -> None:
    assert heartbeat(world, "m", 1, group="") is E.INVALID_GROUP_ID
    assert heartbeat(world, "m", 1, group="unknown") is E.UNKNOWN_MEMBER_ID
    (leader, _), generation = await stable_group(world)
    assert heartbeat(world, "stranger", generation) is E.UNKNOWN_MEMBER_ID
    assert heartbeat(world, leader, generation - 1) is E.ILLEGAL_GENERATION


async def test_members_waiting_for_a_rebalance_do_not_expire(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    join(world, leader)
    parked = join(world, follower, protocols=[("range", b"changed")])
    assert answer(parked).generation_id == generation + 1  # all rejoined: completed at once
    follower_sync = sync(world, follower, generation + 1)
    for _ in range(4):  # the follower waits for the leader's sync: it is not silent
        world.clock.advance(SESSION // 2)
        assert heartbeat(world, leader, generation + 1) is E.NONE
    assert not follower_sync.done()
    assert [m.member_id for m in world.coordinator.describe_group("g")[1].members] == [leader, follower]


async def test_a_new_members_join_is_parked_five_minutes_at_most(world: World) -> None:
    (leader, follower), generation = await stable_group(world, rebalance=2 * NEW_MEMBER_JOIN_TIMEOUT_MS)
    newcomer = join(world)
    while world.clock.now - START_MS < NEW_MEMBER_JOIN_TIMEOUT_MS + 10_000 and not newcomer.done():
        world.clock.advance(5000)
        for member_id in (leader, follower):  # alive, but never rejoining
            assert heartbeat(world, member_id, generation) is E.REBALANCE_IN_PROGRESS
    assert answer(newcomer) == JoinResult(E.UNKNOWN_MEMBER_ID, "")


async def test_a_pending_member_that_never_joins_is_forgotten(world: World) -> None:
    (leader,), generation = await stable_group(world, count=1)
    pending = answer(join(world, require_id=True)).member_id
    leader_join = join(world, leader)  # the group waits for the pending member too
    assert not leader_join.done()
    world.clock.advance(SESSION)
    assert answer(leader_join).generation_id == generation + 1
    assert answer(join(world, pending)).error is E.UNKNOWN_MEMBER_ID


# -- static membership ---------------------------------------------------------------


async def static_pair(world: World, skip_assignment: bool = True) -> tuple[JoinResult, JoinResult]:
    """A stable group of static members s1 (the leader) and s2, assigned b"1" and b"2"."""
    first = join(world, instance="s1", skip_assignment=skip_assignment)
    second = join(world, instance="s2", skip_assignment=skip_assignment)
    world.clock.advance(0)
    s1, s2 = answer(first), answer(second)
    assert s1.leader == s1.member_id
    follower_sync = sync(world, s2.member_id, s2.generation_id, instance="s2")
    synced(sync(world, s1.member_id, s1.generation_id, {s1.member_id: b"1", s2.member_id: b"2"}, instance="s1"))
    assert synced(follower_sync).assignment == b"2"
    return s1, s2


@pytest.mark.parametrize("skip_assignment", [True, False], ids=["v9", "before-v9"])
async def test_a_static_member_restarting_keeps_its_place_and_the_generation(
    world: World, skip_assignment: bool
) -> None:
    s1, s2 = await static_pair(world, skip_assignment)
    generation = s1.generation_id
    follower = answer(join(world, instance="s2", skip_assignment=skip_assignment))
    assert (follower.error, follower.generation_id, follower.members) == (E.NONE, generation, ())
    assert follower.member_id != s2.member_id
    assert state(world) == "Stable"
    assert synced(sync(world, follower.member_id, generation, instance="s2")).assignment == b"2"
    leader = answer(join(world, instance="s1", skip_assignment=skip_assignment))
    if skip_assignment:  # v9: told it leads, with the members, but not to assign again
        assert leader.leader == leader.member_id and leader.skip_assignment
        assert {m.member_id for m in leader.members} == {leader.member_id, follower.member_id}
    else:  # before v9: the old leader id, so that nobody assigns
        assert leader.leader == s1.member_id and not leader.members
    assert state(world) == "Stable" and leader.generation_id == generation
    # The old instances are fenced.
    assert heartbeat(world, s2.member_id, generation, instance="s2") is E.FENCED_INSTANCE_ID
    assert answer(join(world, s2.member_id, instance="s2")).error is E.FENCED_INSTANCE_ID
    assert await commit(world, generation, s2.member_id, instance="s2") == [E.FENCED_INSTANCE_ID]
    assert heartbeat(world, follower.member_id, generation, instance="unknown") is E.UNKNOWN_MEMBER_ID
    await world.coordinator.flush()
    assert (await world.store.groups.list_groups())[0].leader_id == leader.member_id


async def test_a_static_member_restarting_before_its_sync_keeps_its_place(world: World) -> None:
    first, second = join(world, instance="s1"), join(world, instance="s2")
    world.clock.advance(0)
    s1, s2 = answer(first), answer(second)
    synced(sync(world, s1.member_id, s1.generation_id, {s1.member_id: b"1", s2.member_id: b"2"}))
    restarted = answer(join(world, instance="s2"))  # the old s2 never synced
    assert state(world) == "Stable"
    assert synced(sync(world, restarted.member_id, s1.generation_id, instance="s2")).assignment == b"2"
    for _ in range(REBALANCE // 5000):  # past the sync deadline: nobody is missing
        world.clock.advance(5000)
        assert heartbeat(world, s1.member_id, s1.generation_id, instance="s1") is E.NONE
        assert heartbeat(world, restarted.member_id, s1.generation_id, instance="s2") is E.NONE


async def test_a_static_member_restarting_with_another_protocol_rebalances(world: World) -> None:
    await static_pair(world)
    join(world, instance="s2", protocols=[("roundrobin", b""), ("range", b"x")])
    assert state(world) == "Stable"  # range is still the only protocol both support
    join(world, instance="s1", protocols=[("roundrobin", b""), ("range", b"")])
    assert state(world) == "PreparingRebalance"  # now both vote roundrobin


async def test_a_static_member_restarting_mid_rebalance_fences_its_parked_requests(world: World) -> None:
    first, second = join(world, instance="s1"), join(world, instance="s2")
    world.clock.advance(0)
    s1, s2 = answer(first), answer(second)
    parked_sync = sync(world, s2.member_id, s2.generation_id, instance="s2")
    restarted = join(world, instance="s2")
    assert synced(parked_sync).error is E.FENCED_INSTANCE_ID
    assert state(world) == "PreparingRebalance"  # the leader may have assigned to the old id
    leader_join = join(world, s1.member_id, instance="s1")
    assert answer(leader_join).generation_id == answer(restarted).generation_id == s1.generation_id + 1


# -- LeaveGroup ------------------------------------------------------------------


async def test_a_member_leaving_rebalances_the_rest_at_once(world: World) -> None:
    (leader, follower, third), generation = await stable_group(world, count=3)
    assert world.coordinator.leave_group("g", [(third, None)]) == (E.NONE, [E.NONE])
    assert heartbeat(world, leader, generation) is E.REBALANCE_IN_PROGRESS
    join(world, leader)
    result = answer(join(world, follower))
    assert (result.generation_id, result.leader) == (generation + 1, leader)


async def test_leave_batches_and_refusals(world: World) -> None:
    assert world.coordinator.leave_group("", [("m", None)]) == (E.INVALID_GROUP_ID, [])
    assert world.coordinator.leave_group("unknown", [("a", None), ("b", None)]) == (
        E.NONE,
        [E.UNKNOWN_MEMBER_ID, E.UNKNOWN_MEMBER_ID],
    )
    s1, _ = await static_pair(world)
    pending = answer(join(world, require_id=True)).member_id
    leaving = [(s1.member_id, "s2"), ("stranger", None), ("", "s2"), (pending, None), ("", "nobody")]
    errors = [E.FENCED_INSTANCE_ID, E.UNKNOWN_MEMBER_ID, E.NONE, E.NONE, E.UNKNOWN_MEMBER_ID]
    assert world.coordinator.leave_group("g", leaving) == (E.NONE, errors)
    assert [m.member_id for m in world.coordinator.describe_group("g")[1].members] == [s1.member_id]


async def test_the_last_member_leaving_empties_the_group(world: World) -> None:
    (only,), generation = await stable_group(world, count=1)
    assert world.coordinator.leave_group("g", [(only, None)]) == (E.NONE, [E.NONE])
    assert state(world) == "Empty"
    await world.coordinator.flush()
    assert await world.store.groups.list_groups() == [GroupRecord("g", "consumer", generation + 1, None, None, "Empty")]
    assert heartbeat(world, only, generation) is E.UNKNOWN_MEMBER_ID
    assert synced(sync(world, only, generation)).error is E.UNKNOWN_MEMBER_ID


# -- offsets -----------------------------------------------------------------------


async def test_simple_commits_create_a_group_of_their_own(world: World) -> None:
    assert await commit(world, group="unknown", generation=3) == [E.ILLEGAL_GENERATION]
    offsets = [CommittedOffset("t", 0, 5, 2, "note"), CommittedOffset("t", 1, 7)]
    assert await commit(world, offsets=offsets) == [E.NONE, E.NONE]
    assert world.coordinator.list_groups()[1][0].state == "Empty"
    error, fetched = await world.coordinator.fetch_offsets("g", None)
    assert error is E.NONE
    assert fetched == [CommittedOffset("t", 0, 5, 2, "note", START_MS), CommittedOffset("t", 1, 7, -1, "", START_MS)]
    assert (await world.coordinator.fetch_offsets("g", [("t", 1), ("t", 9)]))[1] == [fetched[1]]
    assert await world.coordinator.fetch_offsets("unknown", None) == (E.NONE, [])
    assert await world.store.groups.list_groups() == [GroupRecord("g", "", 0, None, None, "Empty")]


async def test_member_commits_are_checked_against_the_generation(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    world.clock.advance(SESSION - 1)
    assert heartbeat(world, leader, generation) is E.NONE
    assert await commit(world, generation, follower) == [E.NONE]  # and counts as a heartbeat
    world.clock.advance(SESSION - 1)
    assert heartbeat(world, follower, generation) is E.NONE  # still in the group
    assert await commit(world, generation + 1, follower) == [E.ILLEGAL_GENERATION]
    assert await commit(world, generation, "stranger") == [E.UNKNOWN_MEMBER_ID]
    assert await commit(world) == [E.UNKNOWN_MEMBER_ID]  # no member id: only to a group without members
    join(world)
    assert await commit(world, generation, follower) == [E.NONE]  # preparing: the old generation commits
    join(world, leader)
    join(world, follower)
    assert state(world) == "CompletingRebalance"
    assert await commit(world, generation + 1, follower) == [E.REBALANCE_IN_PROGRESS]


async def test_commit_metadata_size(world: World) -> None:
    offsets = [CommittedOffset("t", 0, 1, metadata="x" * (OFFSET_METADATA_MAX_BYTES + 1)), CommittedOffset("t", 1, 2)]
    assert await commit(world, offsets=offsets) == [E.OFFSET_METADATA_TOO_LARGE, E.NONE]
    assert [o.partition for o in (await world.coordinator.fetch_offsets("g", None))[1]] == [1]


async def test_offset_delete(world: World) -> None:
    assert await world.coordinator.delete_offsets("unknown", [("t", 0)]) == (E.GROUP_ID_NOT_FOUND, [])
    await commit(world, offsets=[CommittedOffset("t", 0, 1), CommittedOffset("u", 0, 1)])
    assert await world.coordinator.delete_offsets("g", [("t", 0)]) == (E.NONE, [E.NONE])
    assert [o.topic for o in (await world.coordinator.fetch_offsets("g", None))[1]] == ["u"]
    subscribed = [("range", subscription("t"))]
    await stable_group(world, group="consumers", protocols=subscribed)
    result = await world.coordinator.delete_offsets("consumers", [("t", 0), ("u", 0)])
    assert result == (E.NONE, [E.GROUP_SUBSCRIBED_TO_TOPIC, E.NONE])
    await stable_group(world, group="connect", protocol_type="connect")
    assert await world.coordinator.delete_offsets("connect", [("t", 0)]) == (E.NON_EMPTY_GROUP, [])
    await stable_group(world, group="unreadable", protocols=[("range", b"\x00")])
    assert await world.coordinator.delete_offsets("unreadable", [("t", 0)]) == (
        E.NONE,
        [E.GROUP_SUBSCRIBED_TO_TOPIC],  # subscriptions unknown: every topic counts as subscribed
    )


# -- describe, list, delete ------------------------------------------------------


async def test_describe_shows_metadata_and_assignments_only_when_stable(world: World) -> None:
    assert world.coordinator.describe_group("unknown") == (E.NONE, GroupSummary("Dead", "", ""))
    (leader, follower), _ = await stable_group(world)
    _, summary = world.coordinator.describe_group("g")
    assert (summary.state, summary.protocol_type, summary.protocol_name) == ("Stable", "consumer", "range")
    assert [(m.member_id, m.metadata, m.assignment) for m in summary.members] == [
        (leader, META, leader.encode()),
        (follower, META, follower.encode()),
    ]
    assert summary.members[0].client_host == "/127.0.0.1"
    join(world)
    _, preparing = world.coordinator.describe_group("g")
    assert (preparing.state, preparing.protocol_name) == ("PreparingRebalance", "")
    assert {(m.metadata, m.assignment) for m in preparing.members} == {(b"", b"")}


async def test_list_groups_filters_by_state_in_any_case(world: World) -> None:
    await stable_group(world, group="stable")
    await commit(world, group="simple")
    error, groups = world.coordinator.list_groups()
    assert error is E.NONE
    assert [(g.group_id, g.protocol_type, g.state) for g in groups] == [
        ("simple", "", "Empty"),
        ("stable", "consumer", "Stable"),
    ]
    assert [g.group_id for g in world.coordinator.list_groups(["STABLE", "dead"])[1]] == ["stable"]
    assert world.coordinator.list_groups(["PreparingRebalance"]) == (E.NONE, [])


async def test_delete_groups(world: World) -> None:
    await stable_group(world, group="busy")
    await commit(world, group="idle")
    results = await world.coordinator.delete_groups(["idle", "busy", "missing", "idle"])
    assert results == {"idle": E.NONE, "busy": E.NON_EMPTY_GROUP, "missing": E.GROUP_ID_NOT_FOUND}
    assert [g.group_id for g in world.coordinator.list_groups()[1]] == ["busy"]
    assert await world.coordinator.fetch_offsets("idle", None) == (E.NONE, [])
    assert [r.group_id for r in await world.store.groups.list_groups()] == ["busy"]
    assert await world.store.groups.fetch_offsets("idle") == []


class SlowStore(SqliteMetadataStore):
    """Holds group deletions until released, so requests can meet a Dead group."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.release = asyncio.Event()
        self.groups = SlowGroups(self.database, self.release)


class SlowGroups(SqliteGroups):
    def __init__(self, database: SqliteDatabase, release: asyncio.Event) -> None:
        super().__init__(database)
        self.release = release

    async def delete_group(self, group_id: str) -> None:
        await self.release.wait()
        await super().delete_group(group_id)


async def test_a_group_being_deleted_is_not_available() -> None:
    store = SlowStore()
    await store.start()
    clock = FakeClock()
    coordinator = GroupCoordinator(store, clock, initial_rebalance_delay_ms=0)
    await coordinator.start()
    world = World(coordinator, clock, store)
    try:
        await commit(world)
        deleting = asyncio.create_task(coordinator.delete_groups(["g"]))
        await asyncio.sleep(0)
        assert state(world) == "Dead"
        assert answer(join(world)).error is E.COORDINATOR_NOT_AVAILABLE
        assert answer(join(world, "m")).error is E.COORDINATOR_NOT_AVAILABLE
        assert synced(sync(world, "m", 0)).error is E.COORDINATOR_NOT_AVAILABLE
        assert heartbeat(world, "m", 0) is E.COORDINATOR_NOT_AVAILABLE
        assert coordinator.leave_group("g", [("m", None)]) == (E.COORDINATOR_NOT_AVAILABLE, [])
        assert await commit(world) == [E.COORDINATOR_NOT_AVAILABLE]
        assert await coordinator.fetch_offsets("g", None) == (E.NONE, [])
        assert await coordinator.delete_groups(["g"]) == {"g": E.GROUP_ID_NOT_FOUND}
        assert await coordinator.delete_offsets("g", [("t", 0)]) == (E.GROUP_ID_NOT_FOUND, [])
        store.release.set()
        assert await deleting == {"g": E.NONE}
    finally:
        store.release.set()
        await close_world(world)


async def test_an_unreachable_store_makes_the_coordinator_unavailable(world: World) -> None:
    await commit(world, group="kept")
    await world.store.close()
    assert await commit(world) == [E.COORDINATOR_NOT_AVAILABLE]
    assert await world.coordinator.fetch_offsets("kept", None) == (E.COORDINATOR_NOT_AVAILABLE, [])
    assert await world.coordinator.delete_groups(["kept"]) == {"kept": E.COORDINATOR_NOT_AVAILABLE}
    assert await world.coordinator.delete_offsets("kept", [("t", 0)]) == (E.COORDINATOR_NOT_AVAILABLE, [])
    assert world.coordinator.describe_group("kept")[1].state == "Empty"  # still served as it was


# -- life cycle ---------------------------------------------------------------------


async def test_before_the_groups_are_loaded() -> None:
    store = SqliteMetadataStore(":memory:")
    await store.start()
    world = World(GroupCoordinator(store, FakeClock()), FakeClock(), store)
    try:
        assert answer(join(world)).error is E.COORDINATOR_LOAD_IN_PROGRESS
        assert synced(sync(world, "m", 1)).error is E.REBALANCE_IN_PROGRESS  # rejoin, no new look-up
        assert heartbeat(world, "m", 1) is E.NONE  # nothing to check against yet
        assert world.coordinator.list_groups() == (E.COORDINATOR_LOAD_IN_PROGRESS, [])
        assert await commit(world) == [E.COORDINATOR_LOAD_IN_PROGRESS]
        assert world.coordinator.describe_group("g")[0] is E.COORDINATOR_LOAD_IN_PROGRESS
    finally:
        await close_world(world)


async def test_stopping_answers_parked_requests_and_refuses_new_ones(world: World) -> None:
    (leader, follower), generation = await stable_group(world)
    parked_join = join(world, leader)
    joins = [join(world), join(world)]
    world.clock.advance(0)
    other = join(world, group="other")
    await world.coordinator.stop()
    assert answer(parked_join).error is E.NOT_COORDINATOR
    assert answer(other).error is E.NOT_COORDINATOR
    assert all(answer(future).error is E.NOT_COORDINATOR for future in joins)
    assert answer(join(world)).error is E.NOT_COORDINATOR
    assert synced(sync(world, follower, generation)).error is E.NOT_COORDINATOR
    assert heartbeat(world, follower, generation) is E.NOT_COORDINATOR
    assert world.coordinator.leave_group("g", [(follower, None)]) == (E.NOT_COORDINATOR, [])
    assert await commit(world) == [E.NOT_COORDINATOR]
    assert await world.coordinator.fetch_offsets("g", None) == (E.NOT_COORDINATOR, [])
    assert await world.coordinator.delete_groups(["g"]) == {"g": E.NOT_COORDINATOR}
    assert await world.coordinator.delete_offsets("g", []) == (E.NOT_COORDINATOR, [])
    assert world.coordinator.list_groups() == (E.COORDINATOR_NOT_AVAILABLE, [])


async def test_stopping_answers_parked_syncs(world: World) -> None:
    joins = [join(world), join(world)]
    world.clock.advance(0)
    results = [answer(future) for future in joins]
    follower = next(r.member_id for r in results if r.member_id != r.leader)
    parked = sync(world, follower, results[0].generation_id)
    await world.coordinator.stop()
    assert synced(parked).error is E.NOT_COORDINATOR


async def test_after_a_restart_offsets_remain_and_the_generation_continues(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    world = await open_world(path)
    (leader, _), generation = await stable_group(world)
    assert await commit(world, generation, leader, [CommittedOffset("t", 0, 42, metadata="m")]) == [E.NONE]
    await commit(world, group="simple")
    await close_world(world)

    world = await open_world(path)
    try:
        groups = world.coordinator.list_groups()[1]
        assert [(g.group_id, g.protocol_type, g.state) for g in groups] == [
            ("g", "consumer", "Empty"),
            ("simple", "", "Empty"),
        ]
        assert heartbeat(world, leader, generation) is E.UNKNOWN_MEMBER_ID  # members rejoin after a restart
        assert [o.offset for o in (await world.coordinator.fetch_offsets("g", None))[1]] == [42]
        future = join(world)
        world.clock.advance(0)
        assert answer(future).generation_id == generation + 1
    finally:
        await close_world(world)


# -- groups moving between brokers --------------------------------------------------


def only(*group_ids: str) -> Callable[[str], bool]:
    return lambda group_id: group_id in group_ids


async def test_a_group_moved_elsewhere_is_refused_and_continues_on_its_new_coordinator(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    world = await open_world(path)
    (leader, follower), generation = await stable_group(world, group="moving")
    assert await commit(world, generation, leader, [CommittedOffset("t", 0, 7)], group="moving") == [E.NONE]
    await stable_group(world, group="staying")
    parked = join(world, leader, group="moving")  # the leader rejoins: parked until the follower does
    await world.coordinator.reassign(only("staying"))
    assert answer(parked).error is E.NOT_COORDINATOR
    assert heartbeat(world, follower, generation, group="moving") is E.NOT_COORDINATOR
    assert synced(sync(world, follower, generation, group="moving")).error is E.NOT_COORDINATOR
    assert world.coordinator.leave_group("moving", [(follower, None)]) == (E.NOT_COORDINATOR, [])
    assert await commit(world, group="moving") == [E.NOT_COORDINATOR]
    assert await world.coordinator.fetch_offsets("moving", None) == (E.NOT_COORDINATOR, [])
    assert await world.coordinator.delete_offsets("moving", []) == (E.NOT_COORDINATOR, [])
    assert await world.coordinator.delete_groups(["moving"]) == {"moving": E.NOT_COORDINATOR}
    assert world.coordinator.describe_group("moving")[0] is E.NOT_COORDINATOR
    assert [g.group_id for g in world.coordinator.list_groups()[1]] == ["staying"]
    assert state(world, "staying") == "Stable"  # a group that stays is not disturbed

    other = await open_world(path, owns=only("moving"))  # the new coordinator, over the same store
    try:
        assert [g.group_id for g in other.coordinator.list_groups()[1]] == ["moving"]
        assert heartbeat(other, follower, generation, group="moving") is E.UNKNOWN_MEMBER_ID  # members rejoin
        assert [o.offset for o in (await other.coordinator.fetch_offsets("moving", None))[1]] == [7]
        future = join(other, group="moving")
        other.clock.advance(0)
        assert answer(future).generation_id == generation + 1
        await other.coordinator.flush()
        # Back to the first broker: it loads the group again, as the other one left it.
        await world.coordinator.reassign(every_group)
        assert world.coordinator.describe_group("moving")[1].state == "Empty"
        future = join(world, group="moving")
        world.clock.advance(0)
        assert answer(future).generation_id == generation + 2
    finally:
        await close_world(other)
        await close_world(world)


class HeldListingStore(SqliteMetadataStore):
    """Holds list_groups until released, so requests can arrive while groups load."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.release = asyncio.Event()
        self.release.set()
        self.groups = HeldListingGroups(self.database, self.release)


class HeldListingGroups(SqliteGroups):
    def __init__(self, database: SqliteDatabase, release: asyncio.Event) -> None:
        super().__init__(database)
        self.release = release

    async def list_groups(self) -> list[GroupRecord]:
        await self.release.wait()
        return await super().list_groups()


async def test_groups_that_arrive_are_loading_until_their_records_are_read(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    first = await open_world(path)
    await commit(first, group="arriving")
    await close_world(first)
    store = HeldListingStore(path)
    await store.start()
    world = World(GroupCoordinator(store, FakeClock()), FakeClock(), store)
    await world.coordinator.start(only("present"))
    try:
        assert answer(join(world, group="arriving")).error is E.NOT_COORDINATOR
        store.release.clear()
        moving = asyncio.create_task(world.coordinator.reassign(every_group))
        await asyncio.sleep(0)
        assert answer(join(world, group="arriving")).error is E.COORDINATOR_LOAD_IN_PROGRESS
        assert await commit(world, group="arriving") == [E.COORDINATOR_LOAD_IN_PROGRESS]
        assert world.coordinator.describe_group("present")[0] is E.NONE  # groups already here are served
        store.release.set()
        await moving
        error, offsets = await world.coordinator.fetch_offsets("arriving", None)
        assert (error, [o.offset for o in offsets]) == (E.NONE, [5])
    finally:
        await close_world(world)
