"""The live brokers as this broker last saw them, and which one a partition or a group belongs to.

Placement is rendezvous (highest random weight) hashing: every (key, broker id) pair gets a
score from a hash that is the same in every process (blake2b; Python's hash() of a str is
salted per process), and the broker with the highest score wins. Brokers that see the same
live brokers name the same one, and a broker joining or leaving moves only the keys it wins
or won: about 1/n of them. Nothing depends on the choice for correctness (any broker serves
any partition, and group state lives in the metadata store); it makes a partition's producers
and consumers meet on one broker, and gives each group one coordinator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from streamhouse.metadata.base import BrokerInfo

# How many heartbeat intervals a broker may miss before it drops out of the others' view.
HEARTBEATS_TO_EXPIRY = 3


def _score(key: bytes, broker_id: int) -> int:
    digest = hashlib.blake2b(key + broker_id.to_bytes(4, "big", signed=True), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous(key: str, broker_ids: Iterable[int]) -> int:
    """The broker id with the highest score for `key` (ties, vanishingly rare, go to the lower id)."""
    encoded = key.encode()
    return max(broker_ids, key=lambda broker_id: (_score(encoded, broker_id), -broker_id))


def partition_key(topic: str, partition: int) -> str:
    return f"partition\0{topic}\0{partition}"


def group_key(group_id: str) -> str:
    return f"group\0{group_id}"


def transaction_key(transactional_id: str) -> str:
    return f"transaction\0{transactional_id}"


@dataclass(frozen=True)
class ClusterView:
    """The live brokers by id, always including this one (`me`) at its current address."""

    me: BrokerInfo
    brokers: tuple[BrokerInfo, ...]

    @classmethod
    def of(cls, me: BrokerInfo, live: Iterable[BrokerInfo]) -> ClusterView:
        others = {broker.broker_id: broker for broker in live if broker.broker_id != me.broker_id}
        return cls(me, tuple(sorted([me, *others.values()], key=lambda broker: broker.broker_id)))

    @cached_property
    def broker_ids(self) -> tuple[int, ...]:
        return tuple(broker.broker_id for broker in self.brokers)

    @property
    def controller_id(self) -> int:
        """The lowest live id: there is no controller to elect, but clients expect one to be named."""
        return self.brokers[0].broker_id

    def owner(self, key: str) -> BrokerInfo:
        chosen = rendezvous(key, self.broker_ids)
        return next(broker for broker in self.brokers if broker.broker_id == chosen)

    def partition_leader(self, topic: str, partition: int) -> int:
        """The preferred broker of a partition, named its leader in Metadata."""
        broker_ids = self.broker_ids
        if len(broker_ids) == 1:
            return broker_ids[0]  # the only broker wins every key: no hashing (an all-topics answer asks for each)
        return rendezvous(partition_key(topic, partition), broker_ids)

    def replica_assignment_error(self, topic: str, partition: int, replicas: Sequence[int]) -> str | None:
        """Why a manual replica list for a partition cannot be honoured, or None when it can.

        A partition has one replica, its preferred broker (the data is stored once, in shared
        storage): a list is honoured when it names exactly that broker, as Metadata reports it.
        """
        if len(replicas) != 1:
            return (
                f"partition {partition} of {topic!r}: {len(replicas)} replicas asked, but every partition has "
                "exactly one (data is stored once, in shared storage)"
            )
        (wanted,) = replicas
        if wanted not in self.broker_ids:
            live = ", ".join(str(broker_id) for broker_id in self.broker_ids)
            return f"partition {partition} of {topic!r}: broker {wanted} is not a live broker (live: {live})"
        preferred = self.partition_leader(topic, partition)
        if wanted != preferred:
            return (
                f"partition {partition} of {topic!r} belongs to broker {preferred}, chosen by hashing over the "
                f"live brokers; it cannot be placed on broker {wanted}"
            )
        return None

    def group_coordinator(self, group_id: str) -> BrokerInfo:
        return self.owner(group_key(group_id))

    def coordinates(self, group_id: str) -> bool:
        """Whether this broker is the group's coordinator."""
        return self.group_coordinator(group_id).broker_id == self.me.broker_id

    def coordinates_transaction(self, transactional_id: str) -> bool:
        """Whether this broker is the transactional id's coordinator."""
        return self.owner(transaction_key(transactional_id)).broker_id == self.me.broker_id
