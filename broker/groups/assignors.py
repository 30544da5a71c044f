"""The server-side assignors of KIP-848 consumer groups: `uniform` and `range`, as Kafka names them.

An assignor maps each member to the partitions it should own (the group's target assignment) from
the members' subscribed topics, the topics' partition counts and the previous target. Both are
deterministic, so every broker that takes a group over computes the same target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from uuid import UUID

# topic id -> partitions, of one member
Assignment = dict[UUID, frozenset[int]]
# member id -> the topic ids it subscribes to (existing topics only)
Subscriptions = Mapping[str, frozenset[UUID]]
# topic id -> partition count
PartitionCounts = Mapping[UUID, int]
Assignor = Callable[[Subscriptions, PartitionCounts, Mapping[str, Assignment]], dict[str, Assignment]]


def _as_assignment(partitions: set[tuple[UUID, int]]) -> Assignment:
    grouped: dict[UUID, set[int]] = {}
    for topic_id, partition in partitions:
        grouped.setdefault(topic_id, set()).add(partition)
    return {topic_id: frozenset(found) for topic_id, found in grouped.items()}


def uniform(
    subscriptions: Subscriptions, counts: PartitionCounts, previous: Mapping[str, Assignment]
) -> dict[str, Assignment]:
    """Balanced and sticky: members keep what they had while balanced, counts differ by at most one among peers.

    Each member keeps its previous partitions that are still subscribed, up to its share; the rest
    go one by one to the least loaded member subscribed to their topic; then a partition moves from
    a member to a subscriber of its topic that has two fewer, until none can.
    """
    members = sorted(subscriptions)
    owned: dict[str, set[tuple[UUID, int]]] = {member: set() for member in members}
    total = sum(counts[topic] for topic in set().union(*subscriptions.values())) if members else 0
    share = -(-total // len(members)) if members else 0
    taken: set[tuple[UUID, int]] = set()
    for member in members:
        kept = sorted(
            (topic, partition)
            for topic, partitions in previous.get(member, {}).items()
            if topic in subscriptions[member]
            for partition in partitions
            if partition < counts.get(topic, 0)
        )
        for key in kept[:share]:
            if key not in taken:
                owned[member].add(key)
                taken.add(key)
    subscribers: dict[UUID, list[str]] = {}
    for member in members:
        for topic in subscriptions[member]:
            subscribers.setdefault(topic, []).append(member)
    for topic in sorted(subscribers):
        for partition in range(counts[topic]):
            if (topic, partition) not in taken:
                least = min(subscribers[topic], key=lambda m: (len(owned[m]), m))
                owned[least].add((topic, partition))
    moved = True
    while moved:
        moved = False
        for member in sorted(members, key=lambda m: (-len(owned[m]), m)):
            for key in sorted(owned[member]):
                lighter = [m for m in subscribers[key[0]] if len(owned[m]) < len(owned[member]) - 1]
                if lighter:
                    target = min(lighter, key=lambda m: (len(owned[m]), m))
                    owned[member].remove(key)
                    owned[target].add(key)
                    moved = True
                    break
            if moved:
                break
    return {member: _as_assignment(owned[member]) for member in members}


def range_(
    subscriptions: Subscriptions, counts: PartitionCounts, previous: Mapping[str, Assignment]
) -> dict[str, Assignment]:
    """Per topic, its subscribers by member id take consecutive ranges; the first ones one partition more."""
    owned: dict[str, set[tuple[UUID, int]]] = {member: set() for member in subscriptions}
    topics = sorted(set().union(*subscriptions.values())) if subscriptions else []
    for topic in topics:
        subscribers = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        quota, extra = divmod(counts[topic], len(subscribers))
        start = 0
        for index, member in enumerate(subscribers):
            size = quota + (1 if index < extra else 0)
            owned[member].update((topic, partition) for partition in range(start, start + size))
            start += size
    return {member: _as_assignment(found) for member, found in owned.items()}


ASSIGNORS: dict[str, Assignor] = {"uniform": uniform, "range": range_}
