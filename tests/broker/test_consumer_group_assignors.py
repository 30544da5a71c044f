"""The KIP-848 server-side assignors (broker/groups/assignors.py): balance, stickiness, subscriptions respected."""

from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from streamhouse.broker.groups.assignors import Assignment, range_, uniform

A, B = UUID(int=1), UUID(int=2)


def sizes(target: dict[str, Assignment]) -> dict[str, int]:
    return {member: sum(len(p) for p in assignment.values()) for member, assignment in target.items()}


def flat(target: dict[str, Assignment]) -> list[tuple[UUID, int]]:
    return sorted((t, p) for assignment in target.values() for t, ps in assignment.items() for p in ps)


def test_uniform_splits_evenly_and_moves_only_what_it_must() -> None:
    subscriptions = {m: frozenset({A}) for m in ("m1", "m2", "m3")}
    first = uniform(subscriptions, {A: 48}, {})
    assert sorted(sizes(first).values()) == [16, 16, 16]
    grown = uniform(subscriptions | {"m4": frozenset({A})}, {A: 48}, first)
    assert sorted(sizes(grown).values()) == [12, 12, 12, 12]
    for member in ("m1", "m2", "m3"):  # each old member only gave partitions up
        assert set(grown[member][A]) <= set(first[member][A])
    assert flat(grown) == [(A, p) for p in range(48)]


def test_uniform_gives_a_topic_only_to_its_subscribers() -> None:
    target = uniform({"m1": frozenset({A}), "m2": frozenset({A, B})}, {A: 2, B: 4}, {})
    assert set(target["m1"]) == {A} and target["m2"][B] == frozenset(range(4))
    assert sorted(sizes(target).values()) == [2, 4]


def test_range_gives_consecutive_ranges_the_first_members_one_more() -> None:
    target = range_({"m2": frozenset({A}), "m1": frozenset({A})}, {A: 5}, {})
    assert target == {"m1": {A: frozenset({0, 1, 2})}, "m2": {A: frozenset({3, 4})}}


@settings(max_examples=60, deadline=None)
@given(
    members=st.integers(1, 6),
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    data=st.data(),
)
def test_uniform_assigns_every_subscribed_partition_once_in_balance(
    members: int, counts: list[int], data: st.DataObject
) -> None:
    topics = [uuid4() for _ in counts]
    partition_counts = dict(zip(topics, counts, strict=True))
    names = [f"m{i}" for i in range(members)]
    subscriptions = {name: frozenset(topics) for name in names}
    previous_owner = {(t, p): data.draw(st.sampled_from(names)) for t in topics for p in range(partition_counts[t])}
    previous: dict[str, Assignment] = {}
    for (t, p), owner in previous_owner.items():
        previous.setdefault(owner, {}).setdefault(t, frozenset())
        previous[owner][t] = previous[owner][t] | {p}
    target = uniform(subscriptions, partition_counts, previous)
    assert flat(target) == sorted(previous_owner)
    assert max(sizes(target).values()) - min(sizes(target).values()) <= 1
