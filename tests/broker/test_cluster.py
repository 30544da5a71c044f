"""Placement over the live brokers (broker/cluster.py): the same everywhere, balanced, and stable."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from streamhouse.broker.cluster import ClusterView, group_key, partition_key, rendezvous
from streamhouse.metadata.base import BrokerInfo

REPO = Path(__file__).parents[2]

PARTITIONS = [("orders", partition) for partition in range(3000)] + [
    ("payments", partition) for partition in range(3000)
]


def leaders(broker_ids: list[int]) -> dict[tuple[str, int], int]:
    return {
        (topic, partition): rendezvous(partition_key(topic, partition), broker_ids) for topic, partition in PARTITIONS
    }


def test_every_broker_gets_about_its_share() -> None:
    counts = Counter(leaders([1, 2, 3, 4]).values())
    assert set(counts) == {1, 2, 3, 4}
    share = len(PARTITIONS) / 4
    assert all(0.85 * share < count < 1.15 * share for count in counts.values()), counts


def test_a_broker_joining_takes_about_one_in_n_and_moves_nothing_else() -> None:
    before, after = leaders([1, 2, 3, 4]), leaders([1, 2, 3, 4, 5])
    moved = {key for key in before if before[key] != after[key]}
    assert all(after[key] == 5 for key in moved), "partitions only move to the new broker"
    assert 0.15 < len(moved) / len(PARTITIONS) < 0.25, f"{len(moved)} of {len(PARTITIONS)} moved"


def test_a_broker_leaving_moves_only_its_own_partitions() -> None:
    before, after = leaders([1, 2, 3, 4, 5]), leaders([1, 2, 4, 5])
    moved = {key for key in before if before[key] != after[key]}
    assert moved == {key for key, leader in before.items() if leader == 3}
    assert Counter(after[key] for key in moved).keys() == {1, 2, 4, 5}, "its partitions spread over the rest"


def test_placement_ignores_the_order_brokers_are_listed_in() -> None:
    assert leaders([4, 1, 3, 2]) == leaders([1, 2, 3, 4])


def test_placement_is_the_same_in_another_process() -> None:
    """Every broker must name the same broker: no per-process salt (as Python's str hash has)."""
    keys = [partition_key(topic, partition) for topic, partition in PARTITIONS[:200]] + [group_key("readers")]
    script = (
        "import sys; from streamhouse.broker.cluster import rendezvous; "
        "print(','.join(str(rendezvous(key, [1, 2, 3])) for key in sys.stdin.read().split('\\n')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(keys), capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == ",".join(str(rendezvous(key, [1, 2, 3])) for key in keys)


def test_a_view_always_holds_this_broker_at_its_current_address() -> None:
    me = BrokerInfo(2, "127.0.0.1", 9093)
    view = ClusterView.of(me, [BrokerInfo(3, "c", 3), BrokerInfo(2, "stale", 1), BrokerInfo(1, "a", 1)])
    assert view.brokers == (BrokerInfo(1, "a", 1), me, BrokerInfo(3, "c", 3))
    assert view.controller_id == 1
    assert ClusterView.of(me, []).brokers == (me,)


def test_each_group_has_exactly_one_coordinator_among_the_brokers() -> None:
    brokers = [BrokerInfo(n, "127.0.0.1", 9090 + n) for n in (1, 2, 3)]
    views = [ClusterView.of(me, brokers) for me in brokers]
    groups = [f"group-{n}" for n in range(300)]
    for group in groups:
        assert sum(view.coordinates(group) for view in views) == 1
        assert len({view.group_coordinator(group) for view in views}) == 1
    assert {views[0].group_coordinator(group).broker_id for group in groups} == {1, 2, 3}
