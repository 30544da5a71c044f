"""The MetadataStore contract, the store's life cycle: start, check, close, restarts and migrations.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

import pytest

from streamhouse.metadata.base import (
    AppendResult,
    BrokerInfo,
    MetadataStore,
    MetadataUnavailableError,
    PartitionState,
)
from tests.metadata.conftest import Backend, OpenStore
from tests.metadata.contract import all_entries, chunk, entry


async def test_check_answers_while_started(store: MetadataStore) -> None:
    await store.check()


async def test_check_after_close_is_unavailable(store: MetadataStore) -> None:
    await store.close()
    with pytest.raises(MetadataUnavailableError):
        await store.check()


async def test_close_twice(store: MetadataStore) -> None:
    await store.close()
    await store.close()


async def test_everything_survives_a_restart(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    topic = await store.topics.create_topic("kept", 2, {"retention.ms": "1000"})
    await store.cluster.register_broker(BrokerInfo(1, "host", 9092))
    await store.log.commit_flush("flush/a", 300, [chunk(topic, 0, 2), chunk(topic, 1, 3, position=100)])
    await store.log.commit_flush("flush/b", 100, [chunk(topic, 0, 1, producer=7, epoch=0, sequence=0)])
    await store.log.commit_flush("flush/orphan", 10, [])
    await store.log.set_log_start_offset(topic.topic_id, 1, 1)
    producer_id = await store.transactions.allocate_producer_id()
    await store.close()

    reopened = await open_store()
    assert await reopened.topics.get_topic("kept") == topic
    assert await reopened.log.partition_states(topic.topic_id) == [PartitionState(0, 3), PartitionState(1, 3)]
    assert await all_entries(reopened, topic) == [entry(0, 1, "flush/a"), entry(2, 2, "flush/b")]
    assert await reopened.cluster.live_brokers(60_000) == [BrokerInfo(1, "host", 9092)]
    assert await reopened.log.unreferenced_objects() == ["flush/orphan"]
    assert await reopened.transactions.allocate_producer_id() > producer_id
    retry = await reopened.log.commit_flush("flush/c", 100, [chunk(topic, 0, 1, producer=7, epoch=0, sequence=0)])
    assert retry == [AppendResult(2, 0, duplicate=True)]


async def test_restarts_apply_migrations_once(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.close()
    for _ in range(2):
        reopened = await open_store()
        assert await reopened.topics.list_topics() == [topic]
        await reopened.close()


async def test_start_reports_the_migrations_it_applied(shared_backend: Backend, open_store: OpenStore) -> None:
    first = await open_store()
    second = await open_store()
    assert first.applied_migrations[0] == 1
    assert first.applied_migrations == sorted(set(first.applied_migrations))
    assert second.applied_migrations == []  # the first store applied them all
