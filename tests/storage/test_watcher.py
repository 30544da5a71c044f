"""The partition watcher alone: cached states, long polls, and the metadata store's change reports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID, uuid4

from streamhouse.metadata.base import ChangeListener, ChangesMissed, PartitionChange, PartitionState, TopicChange
from streamhouse.storage.caches import PartitionKey
from streamhouse.storage.watcher import PartitionWatcher

TOPIC = uuid4()
KEY = (TOPIC, 0)


class Store:
    """Partition states to load, and the listener to report changes to."""

    def __init__(self) -> None:
        self.states = [PartitionState(0, 5), PartitionState(0, 7)]
        self.loads = 0
        self.listener: ChangeListener | None = None

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        self.listener = listener

        def unsubscribe() -> None:
            self.listener = None

        return unsubscribe

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        self.loads += 1
        return list(self.states) if topic_id == TOPIC else []

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        return PartitionState(offset, self.states[partition].high_watermark)


class Caches:
    """The read caches, as the calls the watcher makes on them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def drop_index(self, key: PartitionKey) -> None:
        self.calls.append(("drop_index", key))

    def trim_index(self, key: PartitionKey, log_start_offset: int) -> None:
        self.calls.append(("trim_index", (key, log_start_offset)))

    def clear_index(self) -> None:
        self.calls.append(("clear_index", None))

    def forget_topic(self, topic_id: UUID) -> None:
        self.calls.append(("forget_topic", topic_id))


def started() -> tuple[Store, Caches, PartitionWatcher]:
    store, caches = Store(), Caches()
    watcher = PartitionWatcher(store, store, {}, caches)
    watcher.start()
    return store, caches, watcher


def report(store: Store, change: PartitionChange | TopicChange | ChangesMissed) -> None:
    assert store.listener is not None
    store.listener(change)


async def test_states_are_loaded_once_per_topic_and_only_move_up() -> None:
    store, _, watcher = started()
    assert await watcher.state(TOPIC, 1) == PartitionState(0, 7)
    assert await watcher.state(TOPIC, 0) == PartitionState(0, 5)
    assert store.loads == 1
    watcher.advance(KEY, 0, 9)
    watcher.advance(KEY, 0, 8)  # a late report
    assert await watcher.state(TOPIC, 0) == PartitionState(0, 9)
    assert await watcher.state(uuid4(), 0) == PartitionState(0, 0)  # a topic the store does not know


async def test_another_brokers_commit_moves_the_state_trims_the_index_and_wakes_long_polls() -> None:
    store, caches, watcher = started()
    await watcher.state(TOPIC, 0)
    waiting = asyncio.create_task(watcher.wait_for_append([KEY], 30))
    await asyncio.sleep(0)
    report(store, PartitionChange(TOPIC, 0, 2, 6))
    await asyncio.wait_for(waiting, 5)
    assert watcher.states[KEY] == PartitionState(2, 6)
    assert caches.calls == [("trim_index", (KEY, 2))]


async def test_own_changes_are_not_applied_twice_but_rewritten_indexes_are_dropped() -> None:
    store, caches, watcher = started()
    report(store, PartitionChange(TOPIC, 0, 0, 99, index_rewritten=True, local=True))
    assert KEY not in watcher.states
    assert caches.calls == [("drop_index", KEY)]


async def test_missed_changes_drop_every_state_and_index_entry_and_wake_every_long_poll() -> None:
    store, caches, watcher = started()
    await watcher.state(TOPIC, 0)
    waiting = asyncio.create_task(watcher.wait_for_append([(uuid4(), 3)], 30))
    await asyncio.sleep(0)
    report(store, ChangesMissed())
    await asyncio.wait_for(waiting, 5)
    assert watcher.states == {}
    assert caches.calls == [("clear_index", None)]
    await watcher.state(TOPIC, 0)
    assert store.loads == 2


async def test_a_topic_changed_elsewhere_is_forgotten_here_and_in_the_caches() -> None:
    store, caches, watcher = started()
    await watcher.state(TOPIC, 0)
    other = uuid4()
    watcher.advance((other, 0), 0, 1)
    report(store, TopicChange(TOPIC, "t"))
    assert list(watcher.states) == [(other, 0)]
    assert caches.calls == [("forget_topic", TOPIC)]


async def test_a_long_poll_ends_after_its_timeout_and_leaves_no_waiter() -> None:
    _, _, watcher = started()
    waiting = asyncio.create_task(watcher.wait_for_append([KEY], 0.01))
    await asyncio.sleep(0)
    assert KEY in watcher._waiters  # registered while it waits
    await asyncio.wait_for(waiting, 10)  # ends by its own timeout: nothing woke it
    assert KEY not in watcher._waiters


async def test_moving_the_log_start_trims_the_index_and_close_unsubscribes() -> None:
    store, caches, watcher = started()
    assert await watcher.set_log_start_offset(TOPIC, 0, 3) == PartitionState(3, 5)
    assert watcher.states[KEY] == PartitionState(3, 5)
    assert caches.calls == [("trim_index", (KEY, 3))]
    watcher.close()
    assert store.listener is None
