"""What read_committed reads need of each partition's transactions, cached per partition.

A partition's open transactions give its last stable offset; its aborted ranges tell
read_committed consumers which batches to drop. Both change only when a commit carries a
transactional batch or a marker, and the metadata store reports exactly those commits
(PartitionChange.transactions), so each partition is read once and then served from memory
until such a report: partitions that never had a transaction cost one look-up per broker.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from uuid import UUID

from streamhouse.metadata.base import (
    AbortedTransaction,
    Change,
    ChangesMissed,
    MetadataStore,
    PartitionChange,
    PartitionTransactions,
    TopicChange,
)

PartitionKey = tuple[UUID, int]


class TransactionStates:
    """Each partition's PartitionTransactions as the store last reported them."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self._states: dict[PartitionKey, PartitionTransactions] = {}
        self._dropped = 0  # counts drops: a look-up that raced one is not cached
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.metadata.cluster.subscribe(self._changed)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def get(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        key = (topic_id, partition)
        state = self._states.get(key)
        if state is None:
            dropped = self._dropped
            state = await self.metadata.transactions.partition_transactions(topic_id, partition)
            if dropped == self._dropped:
                self._states[key] = state
        return state

    def _changed(self, change: Change) -> None:
        if isinstance(change, ChangesMissed):
            stale = list(self._states)
        elif isinstance(change, TopicChange):
            stale = [key for key in self._states if key[0] == change.topic_id]
        elif isinstance(change, PartitionChange) and change.transactions:
            stale = [(change.topic_id, change.partition)]
        else:
            return
        self._dropped += 1
        for key in stale:
            self._states.pop(key, None)


def aborted_between(state: PartitionTransactions, first: int, last: int) -> list[AbortedTransaction]:
    """The aborted transactions with a batch in first..last (inclusive), by first offset."""
    end = bisect.bisect_right(state.aborted, last, key=lambda aborted: aborted.first_offset)
    return [aborted for aborted in state.aborted[:end] if aborted.last_offset >= first]
