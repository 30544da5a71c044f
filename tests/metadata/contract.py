"""The MetadataStore contract: tests every backend must pass.

Collected by test_contract.py and run once per backend of conftest.BACKENDS, through the
`store` fixture (a started store on a fresh database) and, for tests needing several stores
on one database, `open_store` with `shared_backend`.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID, uuid4

import pytest

from metadata.base import (
    MARKER_ABORT,
    MARKER_COMMIT,
    AbortedTransaction,
    AppendError,
    AppendResult,
    BrokerInfo,
    Change,
    ChunkAppend,
    CommittedOffset,
    FlushCommit,
    GroupRecord,
    IndexEntry,
    InvalidPartitionsError,
    MetadataStore,
    MetadataUnavailableError,
    OffsetOutOfRangeError,
    PartitionChange,
    PartitionState,
    PartitionTransactions,
    TopicChange,
    TopicExistsError,
    TopicInfo,
    TransactionRecord,
    UnknownTopicError,
)
from tests.metadata.conftest import Backend, OpenStore

SEQUENCE_MAX = 2**31 - 1


def chunk(
    topic: TopicInfo | UUID,
    partition: int = 0,
    count: int = 1,
    *,
    position: int = 0,
    length: int = 100,
    timestamp: int = 1_000,
    producer: int = -1,
    epoch: int = -1,
    sequence: int = -1,
    transactional: bool = False,
    marker: int = -1,
) -> ChunkAppend:
    topic_id = topic.topic_id if isinstance(topic, TopicInfo) else topic
    return ChunkAppend(
        topic_id, partition, position, length, count, timestamp, producer, epoch, sequence, transactional, marker
    )


def txn_chunk(
    topic: TopicInfo, partition: int, producer: int, epoch: int, sequence: int, count: int = 1
) -> ChunkAppend:
    return chunk(topic, partition, count, producer=producer, epoch=epoch, sequence=sequence, transactional=True)


def marker(topic: TopicInfo, partition: int, producer: int, epoch: int, kind: int) -> ChunkAppend:
    return chunk(topic, partition, producer=producer, epoch=epoch, transactional=True, marker=kind)


def entry(base: int, last: int, key: str, position: int = 0, length: int = 100, timestamp: int = 1_000) -> IndexEntry:
    return IndexEntry(base, last, key, position, length, timestamp)


async def hwm(store: MetadataStore, topic: TopicInfo, partition: int = 0) -> int:
    return (await store.partition_states(topic.topic_id))[partition].high_watermark


async def all_entries(store: MetadataStore, topic: TopicInfo, partition: int = 0) -> list[IndexEntry]:
    return await store.find_index(topic.topic_id, partition, 0, 1_000_000)


# -- life cycle ----------------------------------------------------------------


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
    topic = await store.create_topic("kept", 2, {"retention.ms": "1000"})
    await store.register_broker(BrokerInfo(1, "host", 9092))
    await store.commit_flush("flush/a", 300, [chunk(topic, 0, 2), chunk(topic, 1, 3, position=100)])
    await store.commit_flush("flush/b", 100, [chunk(topic, 0, 1, producer=7, epoch=0, sequence=0)])
    await store.commit_flush("flush/orphan", 10, [])
    await store.set_log_start_offset(topic.topic_id, 1, 1)
    producer_id = await store.allocate_producer_id()
    await store.close()

    reopened = await open_store()
    assert await reopened.get_topic("kept") == topic
    assert await reopened.partition_states(topic.topic_id) == [PartitionState(0, 3), PartitionState(1, 3)]
    assert await all_entries(reopened, topic) == [entry(0, 1, "flush/a"), entry(2, 2, "flush/b")]
    assert await reopened.live_brokers(60_000) == [BrokerInfo(1, "host", 9092)]
    assert await reopened.unreferenced_objects() == ["flush/orphan"]
    assert await reopened.allocate_producer_id() > producer_id
    retry = await reopened.commit_flush("flush/c", 100, [chunk(topic, 0, 1, producer=7, epoch=0, sequence=0)])
    assert retry == [AppendResult(2, 0, duplicate=True)]


async def test_restarts_apply_migrations_once(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.close()
    for _ in range(2):
        reopened = await open_store()
        assert await reopened.list_topics() == [topic]
        await reopened.close()


# -- brokers -------------------------------------------------------------------


async def test_live_brokers_by_id(store: MetadataStore) -> None:
    await store.register_broker(BrokerInfo(2, "b", 9093))
    await store.register_broker(BrokerInfo(1, "a", 9092))
    assert await store.live_brokers(60_000) == [BrokerInfo(1, "a", 9092), BrokerInfo(2, "b", 9093)]


async def test_expired_brokers_drop_out_and_register_refreshes(store: MetadataStore) -> None:
    await store.register_broker(BrokerInfo(1, "a", 9092))
    await store.register_broker(BrokerInfo(2, "b", 9093))
    await asyncio.sleep(0.2)
    await store.register_broker(BrokerInfo(2, "b2", 9094))
    assert await store.live_brokers(100) == [BrokerInfo(2, "b2", 9094)]
    assert await store.live_brokers(60_000) == [BrokerInfo(1, "a", 9092), BrokerInfo(2, "b2", 9094)]


async def test_deregistered_brokers_drop_out_unless_their_id_moved(store: MetadataStore) -> None:
    await store.register_broker(BrokerInfo(1, "a", 9092))
    await store.register_broker(BrokerInfo(2, "b", 9093))
    await store.deregister_broker(BrokerInfo(1, "a", 9092))
    assert await store.live_brokers(60_000) == [BrokerInfo(2, "b", 9093)]
    # Id 2 now belongs to another address: the old holder's deregistration leaves it alone.
    await store.register_broker(BrokerInfo(2, "c", 9094))
    await store.deregister_broker(BrokerInfo(2, "b", 9093))
    assert await store.live_brokers(60_000) == [BrokerInfo(2, "c", 9094)]


# -- topics --------------------------------------------------------------------


async def test_create_and_get_topic(store: MetadataStore) -> None:
    topic = await store.create_topic("orders", 3, {"cleanup.policy": "compact"})
    assert topic.name == "orders"
    assert topic.partitions == 3
    assert dict(topic.configs) == {"cleanup.policy": "compact"}
    assert await store.get_topic("orders") == topic
    assert await store.get_topic_by_id(topic.topic_id) == topic
    assert await store.partition_states(topic.topic_id) == [PartitionState(0, 0)] * 3


async def test_topic_ids_are_distinct(store: MetadataStore) -> None:
    first = await store.create_topic("a", 1, {})
    second = await store.create_topic("b", 1, {})
    assert first.topic_id != second.topic_id


async def test_create_existing_topic(store: MetadataStore) -> None:
    await store.create_topic("orders", 1, {})
    with pytest.raises(TopicExistsError):
        await store.create_topic("orders", 2, {})
    assert (await store.get_topic("orders")) is not None
    assert len(await store.list_topics()) == 1


async def test_create_topic_without_partitions(store: MetadataStore) -> None:
    with pytest.raises(InvalidPartitionsError):
        await store.create_topic("empty", 0, {})
    assert await store.get_topic("empty") is None


async def test_unknown_topic_lookups(store: MetadataStore) -> None:
    assert await store.get_topic("missing") is None
    assert await store.get_topic_by_id(uuid4()) is None
    assert await store.partition_states(uuid4()) == []


async def test_list_topics_by_name(store: MetadataStore) -> None:
    for name in ("charlie", "alpha", "bravo"):
        await store.create_topic(name, 1, {})
    assert [topic.name for topic in await store.list_topics()] == ["alpha", "bravo", "charlie"]


async def test_delete_topic(store: MetadataStore) -> None:
    topic = await store.create_topic("gone", 2, {"a": "b"})
    kept = await store.create_topic("kept", 1, {})
    await store.commit_flush("flush/1", 200, [chunk(topic, 0, 2, producer=1, epoch=0, sequence=0), chunk(kept, 0, 1)])
    assert await store.delete_topic("gone") == topic
    assert await store.get_topic("gone") is None
    assert await store.get_topic_by_id(topic.topic_id) is None
    assert await store.list_topics() == [kept]
    assert await store.partition_states(topic.topic_id) == []
    assert await all_entries(store, topic) == []
    assert await store.unreferenced_objects() == []  # still referenced by "kept"
    refused = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1)])
    assert refused == [AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION)]


async def test_deleted_topic_objects_become_unreferenced(store: MetadataStore) -> None:
    topic = await store.create_topic("gone", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic)])
    await store.delete_topic("gone")
    assert await store.unreferenced_objects() == ["flush/1"]


async def test_known_objects_are_those_with_a_record_until_forgotten(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic)])
    await store.commit_flush("flush/2", 100, [chunk(topic)])
    many = [f"flush/never-{index}" for index in range(700)]  # more than one query's worth of keys
    assert await store.known_objects(["flush/1", "flush/3", *many, "flush/2"]) == {"flush/1", "flush/2"}
    assert await store.known_objects([]) == set()
    await store.forget_objects(["flush/1"])
    assert await store.known_objects(["flush/1", "flush/2"]) == {"flush/2"}


async def test_recreated_topic_starts_afresh(store: MetadataStore) -> None:
    old = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(old, 0, 5, producer=1, epoch=0, sequence=0)])
    await store.delete_topic("t")
    new = await store.create_topic("t", 1, {})
    assert new.topic_id != old.topic_id
    assert await store.partition_states(new.topic_id) == [PartitionState(0, 0)]
    result = await store.commit_flush("flush/2", 100, [chunk(new, 0, 5, producer=1, epoch=0, sequence=0)])
    assert result == [AppendResult(0, 0)]


async def test_delete_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.delete_topic("missing")


async def test_add_partitions(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 2, {"x": "y"})
    await store.commit_flush("flush/1", 100, [chunk(topic, 1, 4)])
    grown = await store.add_partitions("t", 5)
    assert grown == TopicInfo(topic.topic_id, "t", 5, {"x": "y"})
    assert await store.get_topic("t") == grown
    assert (
        await store.partition_states(topic.topic_id)
        == [PartitionState(0, 0), PartitionState(0, 4)] + [PartitionState(0, 0)] * 3
    )
    assert await store.commit_flush("flush/2", 100, [chunk(topic, 4, 2)]) == [AppendResult(0, 0)]


@pytest.mark.parametrize("count", [1, 2])
async def test_add_partitions_must_grow(store: MetadataStore, count: int) -> None:
    await store.create_topic("t", 2, {})
    with pytest.raises(InvalidPartitionsError):
        await store.add_partitions("t", count)
    topic = await store.get_topic("t")
    assert topic is not None
    assert topic.partitions == 2
    assert len(await store.partition_states(topic.topic_id)) == 2


async def test_add_partitions_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.add_partitions("missing", 3)


async def test_set_topic_configs_replaces(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {"a": "1", "b": "2"})
    updated = await store.set_topic_configs("t", {"b": "3", "c": "4"})
    assert updated == TopicInfo(topic.topic_id, "t", 1, {"b": "3", "c": "4"})
    assert await store.get_topic("t") == updated
    assert await store.set_topic_configs("t", {}) == TopicInfo(topic.topic_id, "t", 1, {})
    assert await store.get_topic_by_id(topic.topic_id) == TopicInfo(topic.topic_id, "t", 1, {})


async def test_set_topic_configs_unknown_topic(store: MetadataStore) -> None:
    with pytest.raises(UnknownTopicError):
        await store.set_topic_configs("missing", {})


# -- commit_flush --------------------------------------------------------------


async def test_commit_assigns_consecutive_offsets_per_partition(store: MetadataStore) -> None:
    a = await store.create_topic("a", 2, {})
    b = await store.create_topic("b", 1, {})
    results = await store.commit_flush(
        "flush/1",
        1000,
        [
            chunk(a, 1, 3, position=0),
            chunk(b, 0, 2, position=100),
            chunk(a, 1, 1, position=200),
            chunk(a, 0, 5, position=300),
            chunk(a, 1, 2, position=400),
        ],
    )
    assert [result.base_offset for result in results] == [0, 0, 3, 0, 4]
    assert all(result.error_code == 0 and not result.duplicate for result in results)
    results = await store.commit_flush("flush/2", 100, [chunk(a, 1, 10), chunk(a, 0, 1)])
    assert [result.base_offset for result in results] == [6, 5]
    assert await store.partition_states(a.topic_id) == [PartitionState(0, 6), PartitionState(0, 16)]
    assert await store.partition_states(b.topic_id) == [PartitionState(0, 2)]
    assert await all_entries(store, a, 1) == [
        entry(0, 2, "flush/1", 0),
        entry(3, 3, "flush/1", 200),
        entry(4, 5, "flush/1", 400),
        entry(6, 15, "flush/2", 0),
    ]


async def test_commit_index_rows_hold_the_chunk(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 5000, [chunk(topic, 0, 7, position=1234, length=567, timestamp=42)])
    assert await all_entries(store, topic) == [IndexEntry(0, 6, "flush/1", 1234, 567, 42)]


async def test_a_wide_commit_keeps_every_index_row_and_high_watermark(store: MetadataStore) -> None:
    """700 partitions and 1,000 chunks in one commit: more keys than one look-up statement takes (SQLite: 300)."""
    topic = await store.create_topic("wide", 700, {})
    chunks = [chunk(topic, index % 700, 2, position=index * 100) for index in range(1000)]
    results = await store.commit_flushes(
        [FlushCommit("flush/1", 100_000, chunks[:400]), FlushCommit("flush/2", 100_000, chunks[400:])]
    )
    assert [result.base_offset for flush in results for result in flush] == [0] * 700 + [2] * 300
    states = await store.partition_states(topic.topic_id)
    assert [state.high_watermark for state in states] == [4] * 300 + [2] * 400
    assert await all_entries(store, topic, 299) == [entry(0, 1, "flush/1", 29_900), entry(2, 3, "flush/2", 99_900)]
    assert await all_entries(store, topic, 699) == [entry(0, 1, "flush/2", 69_900)]
    assert await store.unreferenced_objects() == []


async def test_commit_unknown_topic_or_partition(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    results = await store.commit_flush(
        "flush/1", 300, [chunk(uuid4()), chunk(topic, 0, 2), chunk(topic, 1), chunk(topic, 0, 1)]
    )
    unknown = AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION)
    assert results == [unknown, AppendResult(0, 0), unknown, AppendResult(2, 0)]
    assert await hwm(store, topic) == 3


async def test_commit_reports_log_start(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, 0, 10)])
    await store.set_log_start_offset(topic.topic_id, 0, 4)
    assert await store.commit_flush("flush/2", 100, [chunk(topic)]) == [AppendResult(10, 4)]


async def test_concurrent_commits_get_disjoint_offsets(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    flushes = [[chunk(topic, 0, 2), chunk(topic, 0, 3)] for _ in range(10)]
    results = await asyncio.gather(*(store.commit_flush(f"flush/{n}", 100, c) for n, c in enumerate(flushes)))
    covered: list[int] = []
    for first, second in results:
        assert second.base_offset == first.base_offset + 2  # one flush's chunks stay together
        covered.extend(range(first.base_offset, first.base_offset + 5))
    assert sorted(covered) == list(range(50))
    assert await hwm(store, topic) == 50


async def test_stores_sharing_a_database_get_disjoint_offsets(shared_backend: Backend, open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    topic = await first.create_topic("t", 1, {})
    results = await asyncio.gather(
        *(
            store.commit_flush(f"flush/{n}", 100, [chunk(topic, 0, 2), chunk(topic, 0, 3)])
            for n in range(8)
            for store in (first, second)
        )
    )
    bases = sorted(result[0].base_offset for result in results)
    assert bases == list(range(0, 80, 5))
    assert await hwm(second, topic) == 80


async def test_group_commit_is_the_flushes_committed_one_after_another(store: MetadataStore) -> None:
    a = await store.create_topic("a", 2, {})
    b = await store.create_topic("b", 1, {})
    idempotent = chunk(a, 0, 2, producer=5, epoch=0, sequence=0)
    results = await store.commit_flushes(
        [
            FlushCommit("flush/1", 300, [chunk(a, 1, 3), idempotent, chunk(b, 0, 1, position=200)]),
            FlushCommit("flush/2", 100, []),
            FlushCommit("flush/3", 300, [chunk(a, 1, 2), idempotent, chunk(a, 0, 1, producer=5, epoch=0, sequence=3)]),
            FlushCommit("flush/4", 100, [chunk(uuid4())]),
        ]
    )
    assert results == [
        [AppendResult(0, 0), AppendResult(0, 0), AppendResult(0, 0)],
        [],
        [
            AppendResult(3, 0),
            AppendResult(0, 0, duplicate=True),
            AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER),
        ],
        [AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION)],
    ]
    assert await store.partition_states(a.topic_id) == [PartitionState(0, 2), PartitionState(0, 5)]
    assert await all_entries(store, a, 1) == [entry(0, 2, "flush/1", 0), entry(3, 4, "flush/3", 0)]
    assert await store.unreferenced_objects() == ["flush/2", "flush/4"]
    after = await store.commit_flush("flush/5", 100, [chunk(a, 0, 1, producer=5, epoch=0, sequence=2)])
    assert after == [AppendResult(2, 0)]


async def test_group_commits_of_stores_sharing_a_database_get_disjoint_offsets(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    first, second = await open_store(), await open_store()
    a = await first.create_topic("a", 1, {})
    b = await first.create_topic("b", 1, {})

    calls = [(store, topics) for _ in range(6) for store, topics in ((first, (a, b)), (second, (b, a)))]
    # The two stores name the partitions in opposite orders: the locks must still be taken in one order.
    results = await asyncio.gather(
        *(
            store.commit_flushes([FlushCommit(f"flush/{n}-{t.name}", 100, [chunk(t)]) for t in topics])
            for n, (store, topics) in enumerate(calls)
        )
    )
    bases: dict[str, list[int]] = {"a": [], "b": []}
    for (_, topics), flushes in zip(calls, results, strict=True):
        for topic, flush in zip(topics, flushes, strict=True):
            bases[topic.name].append(flush[0].base_offset)
    assert sorted(bases["a"]) == sorted(bases["b"]) == list(range(12))
    assert await hwm(second, a) == 12 and await hwm(second, b) == 12


# -- idempotent producers ------------------------------------------------------


async def test_idempotent_sequences_accepted_in_order(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    results = await store.commit_flush(
        "flush/1",
        300,
        [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0), chunk(topic, 0, 2, producer=5, epoch=0, sequence=3)],
    )
    assert results == [AppendResult(0, 0), AppendResult(3, 0)]
    results = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=5)])
    assert results == [AppendResult(5, 0)]


async def test_idempotent_duplicate_gets_its_first_offset(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/0", 100, [chunk(topic, 0, 10)])
    batch = chunk(topic, 0, 4, producer=5, epoch=0, sequence=0)
    assert await store.commit_flush("flush/1", 100, [batch]) == [AppendResult(10, 0)]
    await store.commit_flush("flush/2", 100, [chunk(topic, 0, 2, producer=5, epoch=0, sequence=4)])
    entries = await all_entries(store, topic)
    assert await store.commit_flush("flush/3", 100, [batch]) == [AppendResult(10, 0, duplicate=True)]
    assert await all_entries(store, topic) == entries
    assert await hwm(store, topic) == 16
    assert "flush/3" in await store.unreferenced_objects()


async def test_idempotent_duplicate_within_one_flush(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    batch = chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)
    results = await store.commit_flush("flush/1", 200, [batch, batch])
    assert results == [AppendResult(0, 0), AppendResult(0, 0, duplicate=True)]
    assert await hwm(store, topic) == 3


async def test_idempotent_duplicates_remembered_for_five_batches(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    batches = [chunk(topic, 0, 1, producer=5, epoch=0, sequence=n) for n in range(6)]
    await store.commit_flush("flush/1", 600, batches)
    retried = await store.commit_flush("flush/2", 200, [batches[1], batches[0]])
    assert retried == [
        AppendResult(1, 0, duplicate=True),
        AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER),
    ]


async def test_idempotent_gap_is_out_of_order(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)])
    results = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=4)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    assert await hwm(store, topic) == 3
    assert len(await all_entries(store, topic)) == 1
    assert await store.commit_flush("flush/3", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=3)]) == [
        AppendResult(3, 0)
    ]


async def test_idempotent_partial_overlap_is_out_of_order(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)])
    results = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 2, producer=5, epoch=0, sequence=2)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]


async def test_new_producer_must_start_at_zero(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    results = await store.commit_flush("flush/1", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=7)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    assert await hwm(store, topic) == 0


async def test_producer_sequences_are_per_partition(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 2, {})
    results = await store.commit_flush(
        "flush/1",
        200,
        [chunk(topic, 0, 2, producer=5, epoch=0, sequence=0), chunk(topic, 1, 2, producer=5, epoch=0, sequence=0)],
    )
    assert results == [AppendResult(0, 0), AppendResult(0, 0)]


async def test_producers_are_independent(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    results = await store.commit_flush(
        "flush/1",
        200,
        [
            chunk(topic, 0, 2, producer=5, epoch=0, sequence=0),
            chunk(topic, 0, 2, producer=6, epoch=3, sequence=0),
            chunk(topic, 0, 1, producer=5, epoch=0, sequence=2),
            chunk(topic, 0, 1),
        ],
    )
    assert [result.base_offset for result in results] == [0, 2, 4, 5]


async def test_older_epoch_is_fenced(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, 0, 2, producer=5, epoch=3, sequence=0)])
    for sequence in (0, 2):
        results = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=2, sequence=sequence)])
        assert results == [AppendResult(-1, 0, AppendError.INVALID_PRODUCER_EPOCH)]
    assert await hwm(store, topic) == 2


async def test_new_epoch_restarts_at_zero(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    old = chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)
    await store.commit_flush("flush/1", 100, [old])
    refused = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=1, sequence=3)])
    assert refused == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    bumped = chunk(topic, 0, 3, producer=5, epoch=1, sequence=0)
    assert await store.commit_flush("flush/3", 100, [bumped]) == [AppendResult(3, 0)]
    assert await store.commit_flush("flush/4", 100, [bumped]) == [AppendResult(3, 0, duplicate=True)]
    assert await store.commit_flush("flush/5", 100, [old]) == [AppendResult(-1, 0, AppendError.INVALID_PRODUCER_EPOCH)]
    assert await store.commit_flush("flush/6", 100, [chunk(topic, 0, 1, producer=5, epoch=1, sequence=3)]) == [
        AppendResult(6, 0)
    ]


async def test_sequence_wraps_around(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    first = chunk(topic, 0, SEQUENCE_MAX - 1, producer=5, epoch=0, sequence=0)  # sequences 0 .. 2**31-3
    wrapping = chunk(topic, 0, 4, producer=5, epoch=0, sequence=SEQUENCE_MAX - 1)  # 2**31-2, 2**31-1, 0, 1
    after = chunk(topic, 0, 1, producer=5, epoch=0, sequence=2)
    results = await store.commit_flush("flush/1", 300, [first, wrapping, after])
    assert results == [AppendResult(0, 0), AppendResult(SEQUENCE_MAX - 1, 0), AppendResult(SEQUENCE_MAX + 3, 0)]
    retried = await store.commit_flush("flush/2", 100, [wrapping])
    assert retried == [AppendResult(SEQUENCE_MAX - 1, 0, duplicate=True)]
    gap = await store.commit_flush("flush/3", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=0)])
    assert gap == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]


async def test_sequence_wraps_from_the_last_one(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, 0, SEQUENCE_MAX + 1, producer=5, epoch=0, sequence=0)])
    results = await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=0)])
    assert results == [AppendResult(SEQUENCE_MAX + 1, 0)]


# -- the batch index -----------------------------------------------------------


async def _five_entries(store: MetadataStore, timestamps: list[int] | None = None) -> TopicInfo:
    """Entries 0-1, 2-3, 4-5, 6-7, 8-9 in one object, at positions 0, 100, ..."""
    topic = await store.create_topic("t", 1, {})
    stamps = timestamps or [1_000] * 5
    chunks = [chunk(topic, 0, 2, position=100 * n, timestamp=stamp) for n, stamp in enumerate(stamps)]
    await store.commit_flush("flush/1", 500, chunks)
    return topic


async def test_find_index_pages(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    first_page = await store.find_index(topic.topic_id, 0, 0, 2)
    assert [(e.base_offset, e.last_offset, e.position) for e in first_page] == [(0, 1, 0), (2, 3, 100)]
    second_page = await store.find_index(topic.topic_id, 0, first_page[-1].last_offset + 1, 2)
    assert [e.base_offset for e in second_page] == [4, 6]
    last_page = await store.find_index(topic.topic_id, 0, 8, 2)
    assert [e.base_offset for e in last_page] == [8]
    assert await store.find_index(topic.topic_id, 0, 10, 2) == []


async def test_find_index_from_inside_an_entry(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert [e.base_offset for e in await store.find_index(topic.topic_id, 0, 5, 10)] == [4, 6, 8]
    assert [e.base_offset for e in await store.find_index(topic.topic_id, 0, 9, 10)] == [8]


async def test_find_index_below_the_log_start(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    await store.set_log_start_offset(topic.topic_id, 0, 5)
    assert [e.base_offset for e in await store.find_index(topic.topic_id, 0, 0, 10)] == [4, 6, 8]


async def test_find_index_unknown_partition(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.find_index(topic.topic_id, 1, 0, 10) == []
    assert await store.find_index(uuid4(), 0, 0, 10) == []


async def test_find_by_timestamp(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 300, 200, 400, 300])
    found = {
        stamp: await store.find_by_timestamp(topic.topic_id, 0, stamp) for stamp in (0, 100, 150, 250, 300, 301, 400)
    }
    assert {stamp: e and e.base_offset for stamp, e in found.items()} == {
        0: 0,
        100: 0,
        150: 2,
        250: 2,
        300: 2,
        301: 6,
        400: 6,
    }
    assert await store.find_by_timestamp(topic.topic_id, 0, 401) is None
    assert await store.find_by_timestamp(topic.topic_id, 1, 0) is None


async def test_max_timestamp_entry(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 400, 200, 400, 300])
    assert await store.max_timestamp_entry(topic.topic_id, 0) == IndexEntry(2, 3, "flush/1", 100, 100, 400)
    assert await store.max_timestamp_entry(topic.topic_id, 1) is None
    assert await store.max_timestamp_entry(uuid4(), 0) is None


async def test_partition_sizes_sum_the_index(store: MetadataStore) -> None:
    topic = await store.create_topic("sized", 3, {})
    await store.commit_flush("flush/1", 500, [chunk(topic, 0, 2, length=100), chunk(topic, 2, 1, length=40)])
    await store.commit_flush("flush/2", 500, [chunk(topic, 0, 1, length=30)])
    assert await store.partition_sizes(topic.topic_id) == {0: 130, 2: 40}  # partition 1 holds nothing
    await store.set_log_start_offset(topic.topic_id, 0, 2)  # drops the first entry of partition 0
    assert await store.partition_sizes(topic.topic_id) == {0: 30, 2: 40}
    assert await store.partition_sizes(UUID(int=5)) == {}


# -- log start offset ----------------------------------------------------------


async def test_set_log_start_offset_drops_entries_wholly_below(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.set_log_start_offset(topic.topic_id, 0, 5) == PartitionState(5, 10)
    assert await store.partition_states(topic.topic_id) == [PartitionState(5, 10)]
    assert [e.base_offset for e in await all_entries(store, topic)] == [4, 6, 8]
    assert await store.set_log_start_offset(topic.topic_id, 0, 6) == PartitionState(6, 10)
    assert [e.base_offset for e in await all_entries(store, topic)] == [6, 8]


async def test_set_log_start_offset_never_moves_back(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    await store.set_log_start_offset(topic.topic_id, 0, 6)
    assert await store.set_log_start_offset(topic.topic_id, 0, 2) == PartitionState(6, 10)
    assert await store.set_log_start_offset(topic.topic_id, 0, 6) == PartitionState(6, 10)
    assert await store.partition_states(topic.topic_id) == [PartitionState(6, 10)]


async def test_set_log_start_offset_to_the_high_watermark(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.set_log_start_offset(topic.topic_id, 0, 10) == PartitionState(10, 10)
    assert await all_entries(store, topic) == []
    assert await store.unreferenced_objects() == ["flush/1"]


async def test_set_log_start_offset_beyond_the_high_watermark(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    with pytest.raises(OffsetOutOfRangeError):
        await store.set_log_start_offset(topic.topic_id, 0, 11)
    assert await store.partition_states(topic.topic_id) == [PartitionState(0, 10)]
    assert len(await all_entries(store, topic)) == 5


async def test_set_log_start_offset_unknown_partition(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    with pytest.raises(UnknownTopicError):
        await store.set_log_start_offset(topic.topic_id, 1, 0)
    with pytest.raises(UnknownTopicError):
        await store.set_log_start_offset(uuid4(), 0, 0)


# -- compaction ----------------------------------------------------------------


async def test_replace_index(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 200, 300, 400, 500])
    await store.commit_flush("flush/2", 100, [chunk(topic, 0, 1)])
    old = (await all_entries(store, topic))[:5]
    new = [entry(0, 5, "segment/0", 0, 300, 300), entry(6, 9, "segment/0", 300, 200, 500)]
    assert await store.replace_index(topic.topic_id, 0, old, new, "segment/0", 500)
    assert await all_entries(store, topic) == [*new, entry(10, 10, "flush/2")]
    assert await store.unreferenced_objects() == ["flush/1"]
    assert await store.find_by_timestamp(topic.topic_id, 0, 350) == new[1]


async def test_replace_index_refuses_changed_entries(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    old = await all_entries(store, topic)
    new = [entry(0, 9, "segment/0", 0, 500)]
    await store.set_log_start_offset(topic.topic_id, 0, 2)
    assert not await store.replace_index(topic.topic_id, 0, old, new, "segment/0", 500)
    assert await all_entries(store, topic) == old[1:]
    assert "segment/0" not in await store.unreferenced_objects()
    moved = [*old[1:4], entry(8, 9, "elsewhere", 400)]
    assert not await store.replace_index(topic.topic_id, 0, moved, [entry(2, 9, "segment/1", 0, 400)], "segment/1", 400)
    assert await all_entries(store, topic) == old[1:]


# -- producer ids and objects --------------------------------------------------


async def test_allocate_producer_id_is_unique(store: MetadataStore) -> None:
    ids = await asyncio.gather(*(store.allocate_producer_id() for _ in range(20)))
    ids.append(await store.allocate_producer_id())
    assert len(set(ids)) == 21
    assert min(ids) >= 0


async def test_allocate_producer_id_across_stores(shared_backend: Backend, open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    ids = await asyncio.gather(*(store.allocate_producer_id() for _ in range(10) for store in (first, second)))
    assert len(set(ids)) == 20


async def test_unreferenced_and_forgotten_objects(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/empty", 0, [])
    await store.commit_flush("flush/refused", 100, [chunk(uuid4())])
    await store.commit_flush("flush/1", 200, [chunk(topic, 0, 2), chunk(topic, 0, 2, position=100)])
    await store.commit_flush("flush/2", 100, [chunk(topic, 0, 2)])
    assert await store.unreferenced_objects() == ["flush/empty", "flush/refused"]
    await store.set_log_start_offset(topic.topic_id, 0, 3)  # flush/1's first chunk only
    assert await store.unreferenced_objects() == ["flush/empty", "flush/refused"]
    await store.set_log_start_offset(topic.topic_id, 0, 4)
    assert await store.unreferenced_objects() == ["flush/1", "flush/empty", "flush/refused"]
    await store.forget_objects(["flush/1", "flush/empty"])
    assert await store.unreferenced_objects() == ["flush/refused"]
    await store.forget_objects([])
    assert await store.unreferenced_objects() == ["flush/refused"]


async def test_cancelled_calls_leave_the_store_usable(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    for steps in range(12):  # cancel at each point a commit can be waiting at
        task = asyncio.create_task(store.commit_flush(f"flush/{steps}", 100, [chunk(topic)]))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        before = await hwm(store, topic)
        assert await store.commit_flush(f"flush/after-{steps}", 100, [chunk(topic)]) == [AppendResult(before, 0)]
    entries = await all_entries(store, topic)
    assert [e.base_offset for e in entries] == list(range(await hwm(store, topic)))


# -- consumer groups -----------------------------------------------------------


def group(group_id: str, generation: int = 1, state: str = "Stable") -> GroupRecord:
    return GroupRecord(group_id, "consumer", generation, "range", f"{group_id}-leader", state)


async def test_save_group_inserts_and_replaces(store: MetadataStore) -> None:
    assert await store.list_groups() == []
    await store.save_group(group("b"))
    await store.save_group(group("a", generation=4))
    await store.save_group(group("b", generation=2, state="PreparingRebalance"))
    simple = GroupRecord("c", "", 0, None, None, "Empty")
    await store.save_group(simple)
    assert await store.list_groups() == [group("a", generation=4), group("b", 2, "PreparingRebalance"), simple]


async def test_commit_and_fetch_offsets(store: MetadataStore) -> None:
    first = [
        CommittedOffset("t", 1, 10, leader_epoch=3, metadata="m1", commit_time_ms=1_000),
        CommittedOffset("t", 0, 5),
        CommittedOffset("u", 0, 7, metadata="", commit_time_ms=2_000),
    ]
    await store.commit_offsets("g", first)
    assert await store.fetch_offsets("g") == [first[1], first[0], first[2]]
    later = CommittedOffset("t", 1, 12, leader_epoch=-1, metadata="m2", commit_time_ms=3_000)
    await store.commit_offsets("g", [later])
    assert await store.fetch_offsets("g", [("t", 1), ("u", 0), ("t", 9), ("missing", 0)]) == [later, first[2]]
    assert await store.fetch_offsets("g", []) == []
    assert await store.fetch_offsets("other") == []
    await store.commit_offsets("g", [])
    assert len(await store.fetch_offsets("g")) == 3


async def test_offsets_are_kept_per_group(store: MetadataStore) -> None:
    await store.commit_offsets("a", [CommittedOffset("t", 0, 1)])
    await store.commit_offsets("b", [CommittedOffset("t", 0, 2)])
    assert await store.fetch_offsets("a", [("t", 0)]) == [CommittedOffset("t", 0, 1)]
    assert await store.fetch_offsets("b") == [CommittedOffset("t", 0, 2)]


async def test_fetch_offsets_of_many_partitions(store: MetadataStore) -> None:
    offsets = [CommittedOffset("t", partition, partition * 2) for partition in range(1_000)]
    await store.commit_offsets("g", offsets)
    wanted = [("t", partition) for partition in range(0, 1_200, 2)]
    assert await store.fetch_offsets("g", wanted) == offsets[0:1_000:2]
    assert await store.fetch_offsets("g") == offsets


async def test_delete_offsets(store: MetadataStore) -> None:
    await store.commit_offsets(
        "g", [CommittedOffset("t", 0, 1), CommittedOffset("t", 1, 2), CommittedOffset("u", 0, 3)]
    )
    await store.commit_offsets("h", [CommittedOffset("t", 0, 4)])
    await store.delete_offsets("g", [("t", 0), ("u", 0), ("t", 5)])
    assert await store.fetch_offsets("g") == [CommittedOffset("t", 1, 2)]
    assert await store.fetch_offsets("h") == [CommittedOffset("t", 0, 4)]


async def test_delete_group_drops_its_record_and_offsets(store: MetadataStore) -> None:
    for name in ("gone", "kept"):
        await store.save_group(group(name))
        await store.commit_offsets(name, [CommittedOffset("t", 0, 1)])
    await store.delete_group("gone")
    assert await store.list_groups() == [group("kept")]
    assert await store.fetch_offsets("gone") == []
    assert await store.fetch_offsets("kept") == [CommittedOffset("t", 0, 1)]
    await store.delete_group("never-existed")


async def test_delete_topic_drops_the_offsets_committed_on_it(store: MetadataStore) -> None:
    await store.create_topic("gone", 2, {})
    await store.create_topic("kept", 1, {})
    committed = [CommittedOffset("gone", 0, 1), CommittedOffset("gone", 1, 2), CommittedOffset("kept", 0, 3)]
    await store.commit_offsets("g", committed)
    await store.delete_topic("gone")
    assert await store.fetch_offsets("g") == [CommittedOffset("kept", 0, 3)]
    await store.create_topic("gone", 2, {})
    assert await store.fetch_offsets("g", [("gone", 0)]) == []


async def test_groups_and_offsets_survive_a_restart(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    await store.save_group(group("g", generation=7))
    offset = CommittedOffset("t", 3, 42, leader_epoch=1, metadata="kept", commit_time_ms=5_000)
    await store.commit_offsets("g", [offset])
    await store.close()
    reopened = await open_store()
    assert await reopened.list_groups() == [group("g", generation=7)]
    assert await reopened.fetch_offsets("g") == [offset]


# -- change reports ------------------------------------------------------------


def recorder(store: MetadataStore) -> list[Change]:
    """The list every change `store` reports is appended to."""
    changes: list[Change] = []
    store.subscribe(changes.append)
    return changes


async def test_commits_report_each_advanced_partition(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 3, {})
    changes = recorder(store)
    await store.commit_flush("flush/1", 300, [chunk(topic, 2, 4), chunk(topic, 0, 1), chunk(topic, 2, 1)])
    assert changes == [
        PartitionChange(topic.topic_id, 0, 0, 1, local=True),
        PartitionChange(topic.topic_id, 2, 0, 5, local=True),
    ]


async def test_refused_and_duplicate_chunks_report_nothing(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [chunk(topic, producer=7, epoch=0, sequence=0)])
    changes = recorder(store)
    await store.commit_flush("flush/2", 100, [chunk(topic, producer=7, epoch=0, sequence=0)])  # a duplicate
    await store.commit_flush("flush/3", 100, [chunk(topic, 5)])  # no partition 5
    assert changes == []


async def test_topic_changes_are_reported(store: MetadataStore) -> None:
    changes = recorder(store)
    topic = await store.create_topic("t", 1, {})
    await store.add_partitions("t", 2)
    await store.set_topic_configs("t", {"retention.ms": "1000"})
    await store.delete_topic("t")
    assert changes == [TopicChange(topic.topic_id, "t", local=True)] * 4


async def test_log_start_moves_and_index_swaps_are_reported(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 200, [chunk(topic, 0, 2), chunk(topic, 0, 3, position=100)])
    changes = recorder(store)
    await store.set_log_start_offset(topic.topic_id, 0, 2)
    await store.set_log_start_offset(topic.topic_id, 0, 1)  # never back: no change, no report
    await store.replace_index(topic.topic_id, 0, await all_entries(store, topic), [entry(2, 4, "seg")], "seg", 100)
    assert changes == [
        PartitionChange(topic.topic_id, 0, 2, 5, local=True),
        PartitionChange(topic.topic_id, 0, 2, 5, index_rewritten=True, local=True),
    ]


async def test_unsubscribed_listeners_hear_nothing_more(store: MetadataStore) -> None:
    changes: list[Change] = []
    unsubscribe = store.subscribe(changes.append)
    await store.create_topic("a", 1, {})
    unsubscribe()
    await store.create_topic("b", 1, {})
    assert [change.name for change in changes if isinstance(change, TopicChange)] == ["a"]


async def test_a_failing_listener_does_not_stop_the_others(store: MetadataStore) -> None:
    def fail(change: Change) -> None:
        raise RuntimeError("listener bug")

    store.subscribe(fail)
    changes = recorder(store)
    topic = await store.create_topic("t", 1, {})
    assert changes == [TopicChange(topic.topic_id, "t", local=True)]


async def test_start_reports_the_migrations_it_applied(shared_backend: Backend, open_store: OpenStore) -> None:
    first = await open_store()
    second = await open_store()
    assert first.applied_migrations[0] == 1
    assert first.applied_migrations == sorted(set(first.applied_migrations))
    assert second.applied_migrations == []  # the first store applied them all


# -- transactions --------------------------------------------------------------


async def test_save_and_get_transaction(store: MetadataStore) -> None:
    assert await store.get_transaction("tx") is None
    record = TransactionRecord(
        "tx",
        7,
        2,
        "Ongoing",
        60_000,
        started_ms=5,
        updated_ms=6,
        partitions=(("t", 0), ("u", 3)),
        groups=("g",),
        pending_offsets=(("g", CommittedOffset("t", 0, 42, 1, "meta")),),
        last_epoch=1,
    )
    assert await store.save_transaction(record)
    assert await store.get_transaction("tx") == record
    assert await store.list_transactions() == [record]


async def test_save_transaction_refuses_a_stale_version(store: MetadataStore) -> None:
    first = TransactionRecord("tx", 7, 0, "Empty", 60_000)
    assert await store.save_transaction(first)
    assert not await store.save_transaction(first)  # version 1 again: the id exists
    second = TransactionRecord("tx", 7, 1, "Empty", 60_000, version=2)
    assert await store.save_transaction(second)
    stale = TransactionRecord("tx", 7, 5, "Ongoing", 60_000, version=2)
    assert not await store.save_transaction(stale, [("g", CommittedOffset("t", 0, 9))])
    assert await store.get_transaction("tx") == second
    assert await store.fetch_offsets("g") == []


async def test_save_transaction_commits_offsets_with_it(store: MetadataStore) -> None:
    assert await store.save_transaction(TransactionRecord("tx", 7, 0, "Empty", 60_000))
    record = TransactionRecord("tx", 7, 0, "PrepareCommit", 60_000, version=2)
    offsets = [("g", CommittedOffset("t", 0, 9, commit_time_ms=3)), ("h", CommittedOffset("t", 1, 4))]
    assert await store.save_transaction(record, offsets)
    assert await store.fetch_offsets("g") == [CommittedOffset("t", 0, 9, commit_time_ms=3)]
    assert await store.fetch_offsets("h") == [CommittedOffset("t", 1, 4)]


async def test_list_transactions_by_id(store: MetadataStore) -> None:
    for name in ("b", "a", "c"):
        assert await store.save_transaction(TransactionRecord(name, 1, 0, "Empty", 1_000))
    assert [record.transactional_id for record in await store.list_transactions()] == ["a", "b", "c"]


async def test_transactional_batches_open_a_transaction_at_their_first_offset(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 2, {})
    await store.commit_flush("flush/0", 100, [chunk(topic, 0, 3)])
    await store.commit_flush("flush/1", 300, [txn_chunk(topic, 0, 7, 0, 0, 2), txn_chunk(topic, 0, 7, 0, 2)])
    await store.commit_flush("flush/2", 100, [txn_chunk(topic, 0, 8, 0, 0)])
    state = await store.partition_transactions(topic.topic_id, 0)
    assert state.open == ((7, 3), (8, 6))
    assert state.last_stable_offset(await hwm(store, topic)) == 3
    assert await store.partition_transactions(topic.topic_id, 1) == PartitionTransactions()


async def test_markers_close_transactions_and_aborts_are_recorded(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 200, [txn_chunk(topic, 0, 7, 0, 0, 2), txn_chunk(topic, 0, 8, 0, 0)])
    changes = recorder(store)
    results = await store.commit_flush(
        "flush/2", 200, [marker(topic, 0, 7, 0, MARKER_ABORT), marker(topic, 0, 8, 0, MARKER_COMMIT)]
    )
    assert [result.base_offset for result in results] == [3, 4]
    state = await store.partition_transactions(topic.topic_id, 0)
    assert state == PartitionTransactions((), (AbortedTransaction(7, 0, 3),))
    assert state.last_stable_offset(5) == 5
    assert changes == [PartitionChange(topic.topic_id, 0, 0, 5, transactions=True, local=True)]


async def test_a_repeated_marker_changes_no_transaction(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    results = await store.commit_flush("flush/3", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    assert results[0].base_offset == 2
    assert (await store.partition_transactions(topic.topic_id, 0)).aborted == (AbortedTransaction(7, 0, 1),)


async def test_a_marker_of_a_newer_epoch_fences_the_older(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.commit_flush("flush/2", 100, [marker(topic, 0, 7, 1, MARKER_ABORT)])
    late = await store.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 7, 0, 1)])
    assert late[0].error_code == AppendError.INVALID_PRODUCER_EPOCH
    stale_marker = await store.commit_flush("flush/4", 100, [marker(topic, 0, 7, 0, MARKER_COMMIT)])
    assert stale_marker[0].error_code == AppendError.INVALID_PRODUCER_EPOCH
    fresh = await store.commit_flush("flush/5", 100, [txn_chunk(topic, 0, 7, 1, 0)])
    assert fresh[0].base_offset == 2  # the new epoch starts at sequence 0
    assert (await store.partition_transactions(topic.topic_id, 0)).open == ((7, 2),)


async def test_a_retried_transactional_batch_opens_nothing(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_COMMIT)])
    duplicate = await store.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    assert duplicate[0].duplicate
    assert await store.partition_transactions(topic.topic_id, 0) == PartitionTransactions()


async def test_aborted_transactions_below_the_log_start_are_dropped(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    await store.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 8, 0, 0)])
    await store.commit_flush("flush/4", 100, [marker(topic, 0, 8, 0, MARKER_ABORT)])
    await store.set_log_start_offset(topic.topic_id, 0, 2)
    assert (await store.partition_transactions(topic.topic_id, 0)).aborted == (AbortedTransaction(8, 2, 3),)


async def test_delete_topic_drops_its_transactions(store: MetadataStore) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0), txn_chunk(topic, 0, 8, 0, 0)])
    await store.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    await store.delete_topic("t")
    assert await store.partition_transactions(topic.topic_id, 0) == PartitionTransactions()


async def test_transactions_survive_a_restart(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    topic = await store.create_topic("t", 1, {})
    await store.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    assert await store.save_transaction(TransactionRecord("tx", 7, 0, "Ongoing", 1_000, partitions=(("t", 0),)))
    await store.close()
    reopened = await open_store()
    assert (await reopened.partition_transactions(topic.topic_id, 0)).open == ((7, 0),)
    assert (await reopened.get_transaction("tx")) == TransactionRecord(
        "tx", 7, 0, "Ongoing", 1_000, partitions=(("t", 0),)
    )
