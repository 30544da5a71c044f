"""The MetadataStore contract, the cluster role (store.cluster): the broker registry and the change feed.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

import asyncio

from streamhouse.metadata.base import (
    BrokerInfo,
    Change,
    ListenerAddress,
    MetadataStore,
    PartitionChange,
    TopicChange,
)
from tests.metadata.contract import all_entries, chunk, entry, recorder


async def test_live_brokers_by_id(store: MetadataStore) -> None:
    await store.cluster.register_broker(BrokerInfo(2, "b", 9093))
    await store.cluster.register_broker(BrokerInfo(1, "a", 9092))
    assert await store.cluster.live_brokers(60_000) == [BrokerInfo(1, "a", 9092), BrokerInfo(2, "b", 9093)]


async def test_brokers_carry_their_advertised_listeners(store: MetadataStore) -> None:
    internal = ListenerAddress("INTERNAL", "streamhouse", 9092)
    external = ListenerAddress("EXTERNAL", "::1", 19093)
    await store.cluster.register_broker(BrokerInfo(1, "streamhouse", 9092, (internal, external)))
    await store.cluster.register_broker(BrokerInfo(2, "b", 9093))  # no named listeners
    one, two = await store.cluster.live_brokers(60_000)
    assert one == BrokerInfo(1, "streamhouse", 9092, (internal, external))
    assert one.address("EXTERNAL") == ("::1", 19093)
    assert two == BrokerInfo(2, "b", 9093) and two.address("EXTERNAL") == ("b", 9093)
    # A re-registration replaces the listeners.
    await store.cluster.register_broker(BrokerInfo(1, "streamhouse", 9092, (internal,)))
    assert (await store.cluster.live_brokers(60_000))[0].listeners == (internal,)


async def test_expired_brokers_drop_out_and_register_refreshes(store: MetadataStore) -> None:
    await store.cluster.register_broker(BrokerInfo(1, "a", 9092))
    await store.cluster.register_broker(BrokerInfo(2, "b", 9093))
    await asyncio.sleep(0.2)
    await store.cluster.register_broker(BrokerInfo(2, "b2", 9094))
    assert await store.cluster.live_brokers(100) == [BrokerInfo(2, "b2", 9094)]
    assert await store.cluster.live_brokers(60_000) == [BrokerInfo(1, "a", 9092), BrokerInfo(2, "b2", 9094)]


async def test_deregistered_brokers_drop_out_unless_their_id_moved(store: MetadataStore) -> None:
    await store.cluster.register_broker(BrokerInfo(1, "a", 9092))
    await store.cluster.register_broker(BrokerInfo(2, "b", 9093))
    await store.cluster.deregister_broker(BrokerInfo(1, "a", 9092))
    assert await store.cluster.live_brokers(60_000) == [BrokerInfo(2, "b", 9093)]
    # Id 2 now belongs to another address: the old holder's deregistration leaves it alone.
    await store.cluster.register_broker(BrokerInfo(2, "c", 9094))
    await store.cluster.deregister_broker(BrokerInfo(2, "b", 9093))
    assert await store.cluster.live_brokers(60_000) == [BrokerInfo(2, "c", 9094)]


async def test_commits_report_each_advanced_partition(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 3, {})
    changes = recorder(store)
    await store.log.commit_flush("flush/1", 300, [chunk(topic, 2, 4), chunk(topic, 0, 1), chunk(topic, 2, 1)])
    assert changes == [
        PartitionChange(topic.topic_id, 0, 0, 1, local=True),
        PartitionChange(topic.topic_id, 2, 0, 5, local=True),
    ]


async def test_refused_and_duplicate_chunks_report_nothing(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, producer=7, epoch=0, sequence=0)])
    changes = recorder(store)
    await store.log.commit_flush("flush/2", 100, [chunk(topic, producer=7, epoch=0, sequence=0)])  # a duplicate
    await store.log.commit_flush("flush/3", 100, [chunk(topic, 5)])  # no partition 5
    assert changes == []


async def test_topic_changes_are_reported(store: MetadataStore) -> None:
    changes = recorder(store)
    topic = await store.topics.create_topic("t", 1, {})
    await store.topics.add_partitions("t", 2)
    await store.topics.set_topic_configs("t", {"retention.ms": "1000"})
    await store.topics.delete_topic("t")
    assert changes == [TopicChange(topic.topic_id, "t", local=True)] * 4


async def test_log_start_moves_and_index_swaps_are_reported(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 200, [chunk(topic, 0, 2), chunk(topic, 0, 3, position=100)])
    changes = recorder(store)
    await store.log.set_log_start_offset(topic.topic_id, 0, 2)
    await store.log.set_log_start_offset(topic.topic_id, 0, 1)  # never back: no change, no report
    await store.log.replace_index(topic.topic_id, 0, await all_entries(store, topic), [entry(2, 4, "seg")], "seg", 100)
    assert changes == [
        PartitionChange(topic.topic_id, 0, 2, 5, local=True),
        PartitionChange(topic.topic_id, 0, 2, 5, index_rewritten=True, local=True),
    ]


async def test_unsubscribed_listeners_hear_nothing_more(store: MetadataStore) -> None:
    changes: list[Change] = []
    unsubscribe = store.cluster.subscribe(changes.append)
    await store.topics.create_topic("a", 1, {})
    unsubscribe()
    await store.topics.create_topic("b", 1, {})
    assert [change.name for change in changes if isinstance(change, TopicChange)] == ["a"]


async def test_a_failing_listener_does_not_stop_the_others(store: MetadataStore) -> None:
    def fail(change: Change) -> None:
        raise RuntimeError("listener bug")

    store.cluster.subscribe(fail)
    changes = recorder(store)
    topic = await store.topics.create_topic("t", 1, {})
    assert changes == [TopicChange(topic.topic_id, "t", local=True)]
