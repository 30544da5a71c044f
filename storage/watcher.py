"""Each partition's log start and high watermark as this broker knows them, and the long polls waiting on them.

Other brokers sharing the metadata store commit too: the store's change reports advance the cached
states, drop cached index entries that compaction swapped, and wake long-poll fetches; when the store
says reports were missed, every cached state and index entry is dropped and read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol
from uuid import UUID

from streamhouse.metadata.base import ChangeListener, ChangesMissed, PartitionChange, PartitionState, TopicChange
from streamhouse.storage.caches import PartitionKey


class ChangeSource(Protocol):
    """The metadata store's change reports."""

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]: ...


class PartitionStore(Protocol):
    """What the watcher asks of the metadata store's log."""

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]: ...

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState: ...


class ReadCaches(Protocol):
    """What the watcher tells the read path (storage.reader.LogReader) to drop."""

    def drop_index(self, key: PartitionKey) -> None: ...

    def drop_tail(self, key: PartitionKey) -> None: ...

    def trim_index(self, key: PartitionKey, log_start_offset: int) -> None: ...

    def clear_index(self) -> None: ...

    def forget_topic(self, topic_id: UUID) -> None: ...


class PartitionWatcher:
    """Cached partition states, moved by this broker's commits and by the store's change reports.

    `states` is the dict it keeps them in (the reader reads it); `caches` hears what turned stale.
    """

    def __init__(
        self,
        store: PartitionStore,
        changes: ChangeSource,
        states: dict[PartitionKey, PartitionState],
        caches: ReadCaches,
    ) -> None:
        self.store = store
        self.changes = changes
        self.states = states
        self.caches = caches
        self._waiters: dict[PartitionKey, set[asyncio.Future[None]]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.changes.subscribe(self.changed)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def state(self, topic_id: UUID, partition: int) -> PartitionState:
        """Log start offset and high watermark of a partition."""
        key = (topic_id, partition)
        state = self.states.get(key)
        if state is None:
            states = await self.store.partition_states(topic_id)
            for index, loaded in enumerate(states):
                self.states.setdefault((topic_id, index), loaded)
            state = self.states.get(key, PartitionState(0, 0))
        return state

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        state = await self.store.set_log_start_offset(topic_id, partition, offset)
        self.states[(topic_id, partition)] = state
        self.caches.trim_index((topic_id, partition), state.log_start_offset)
        return state

    def forget_topic(self, topic_id: UUID) -> None:
        """Drop cached state of a deleted topic, here and in the read caches."""
        for key in [key for key in self.states if key[0] == topic_id]:
            del self.states[key]
        self.caches.forget_topic(topic_id)

    def advance(self, key: PartitionKey, log_start_offset: int, high_watermark: int) -> None:
        """Move a partition's cached state up to what a commit or a change report says (reports may come late)."""
        state = self.states.get(key)
        if state is not None:
            log_start_offset = max(state.log_start_offset, log_start_offset)
            high_watermark = max(state.high_watermark, high_watermark)
        self.states[key] = PartitionState(log_start_offset, high_watermark)

    def wake(self, key: PartitionKey) -> None:
        """Resolve the long polls waiting on a partition."""
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_append(self, keys: Iterable[PartitionKey], timeout: float) -> None:
        """Return when any of the partitions gets a commit, or after `timeout` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = list(keys)
        for key in keys:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[key]

    def changed(self, change: PartitionChange | TopicChange | ChangesMissed) -> None:
        """Follow a change report of the metadata store (this broker's own changes are applied already)."""
        if isinstance(change, ChangesMissed):
            self.states.clear()
            self.caches.clear_index()
            for key in list(self._waiters):
                self.wake(key)
            return
        if isinstance(change, PartitionChange) and change.index_rewritten:
            self.caches.drop_index((change.topic_id, change.partition))
        if isinstance(change, PartitionChange) and change.cleaned:
            self.caches.drop_tail((change.topic_id, change.partition))
        if change.local:
            return
        if isinstance(change, TopicChange):
            self.forget_topic(change.topic_id)
            for key in [key for key in self._waiters if key[0] == change.topic_id]:
                self.wake(key)
            return
        key = (change.topic_id, change.partition)
        self.advance(key, change.log_start_offset, change.high_watermark)
        self.caches.trim_index(key, change.log_start_offset)
        self.wake(key)
