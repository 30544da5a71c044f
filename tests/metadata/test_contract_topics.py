"""The MetadataStore contract, the topics role (store.topics).

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from streamhouse.metadata.base import (
    AppendError,
    AppendResult,
    InvalidPartitionsError,
    MetadataStore,
    PartitionState,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
)
from tests.metadata.contract import all_entries, chunk


async def test_create_and_get_topic(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("orders", 3, {"cleanup.policy": "compact"})
    assert topic.name == "orders"
    assert topic.partitions == 3
    assert dict(topic.configs) == {"cleanup.policy": "compact"}
    assert await store.topics.get_topic("orders") == topic
    assert await store.topics.get_topic_by_id(topic.topic_id) == topic
    assert await store.log.partition_states(topic.topic_id) == [PartitionState(0, 0)] * 3


async def test_topic_ids_are_distinct(store: MetadataStore) -> None:
    first = await store.topics.create_topic("a", 1, {})
    second = await store.topics.create_topic("b", 1, {})
    assert first.topic_id != second.topic_id


async def test_create_existing_topic(store: MetadataStore) -> None:
    await store.topics.create_topic("orders", 1, {})
    with pytest.raises(TopicExistsError):
        await store.topics.create_topic("orders", 2, {})
    assert (await store.topics.get_topic("orders")) is not None
    assert len(await store.topics.list_topics()) == 1


async def test_create_topic_without_partitions(store: MetadataStore) -> None:
    with pytest.raises(InvalidPartitionsError):
        await store.topics.create_topic("empty", 0, {})
    assert await store.topics.get_topic("empty") is None


async def test_unknown_topic_lookups(store: MetadataStore) -> None:
    assert await store.topics.get_topic("missing") is None
    assert await store.topics.get_topic_by_id(uuid4()) is None
    assert await store.log.partition_states(uuid4()) == []


async def test_list_topics_by_name(store: MetadataStore) -> None:
    for name in ("charlie", "alpha", "bravo"):
        await store.topics.create_topic(name, 1, {})
    assert [topic.name for topic in await store.topics.list_topics()] == ["alpha", "bravo", "charlie"]


async def test_delete_topic(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("gone", 2, {"a": "b"})
    kept = await store.topics.create_topic("kept", 1, {})
    await store.log.commit_flush(
        "flush/1", 200, [chunk(topic, 0, 2, producer=1, epoch=0, sequence=0), chunk(kept, 0, 1)]
    )
    assert await store.topics.delete_topic("gone") == topic
    assert await store.topics.get_topic("gone") is None
    assert await store.topics.get_topic_by_id(topic.topic_id) is None
    assert await store.topics.list_topics() == [kept]
    assert await store.log.partition_states(topic.topic_id) == []
    assert await all_entries(store, topic) == []
    assert await store.log.unreferenced_objects() == []  # still referenced by "kept"
    refused = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1)])
    assert refused == [AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION)]


async def test_deleted_topic_objects_become_unreferenced(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("gone", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic)])
    await store.topics.delete_topic("gone")
    assert await store.log.unreferenced_objects() == ["flush/1"]


async def test_recreated_topic_starts_afresh(store: MetadataStore) -> None:
    old = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(old, 0, 5, producer=1, epoch=0, sequence=0)])
    await store.topics.delete_topic("t")
    new = await store.topics.create_topic("t", 1, {})
    assert new.topic_id != old.topic_id
    assert await store.log.partition_states(new.topic_id) == [PartitionState(0, 0)]
    result = await store.log.commit_flush("flush/2", 100, [chunk(new, 0, 5, producer=1, epoch=0, sequence=0)])
    assert result == [AppendResult(0, 0)]


async def test_delete_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.topics.delete_topic("missing")


async def test_add_partitions(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 2, {"x": "y"})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 1, 4)])
    grown = await store.topics.add_partitions("t", 5)
    assert grown == TopicInfo(topic.topic_id, "t", 5, {"x": "y"})
    assert await store.topics.get_topic("t") == grown
    assert (
        await store.log.partition_states(topic.topic_id)
        == [PartitionState(0, 0), PartitionState(0, 4)] + [PartitionState(0, 0)] * 3
    )
    assert await store.log.commit_flush("flush/2", 100, [chunk(topic, 4, 2)]) == [AppendResult(0, 0)]


@pytest.mark.parametrize("count", [1, 2])
async def test_add_partitions_must_grow(store: MetadataStore, count: int) -> None:
    await store.topics.create_topic("t", 2, {})
    with pytest.raises(InvalidPartitionsError):
        await store.topics.add_partitions("t", count)
    topic = await store.topics.get_topic("t")
    assert topic is not None
    assert topic.partitions == 2
    assert len(await store.log.partition_states(topic.topic_id)) == 2


async def test_add_partitions_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.topics.add_partitions("missing", 3)


async def test_set_topic_configs_replaces(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {"a": "1", "b": "2"})
    updated = await store.topics.set_topic_configs("t", {"b": "3", "c": "4"})
    assert updated == TopicInfo(topic.topic_id, "t", 1, {"b": "3", "c": "4"})
    assert await store.topics.get_topic("t") == updated
    assert await store.topics.set_topic_configs("t", {}) == TopicInfo(topic.topic_id, "t", 1, {})
    assert await store.topics.get_topic_by_id(topic.topic_id) == TopicInfo(topic.topic_id, "t", 1, {})


async def test_set_topic_configs_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.topics.set_topic_configs("missing", {})
