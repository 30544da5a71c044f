"""The MetadataStore contract, the log role (store.log): the sequencer, idempotent producers,
the batch index and objects.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID, uuid4

import pytest

from streamhouse.metadata.base import (
    AppendError,
    AppendResult,
    FlushCommit,
    IndexEntry,
    MetadataStore,
    OffsetOutOfRangeError,
    PartitionState,
    TopicInfo,
    UnknownTopicError,
)
from tests.metadata.conftest import Backend, OpenStore
from tests.metadata.contract import SEQUENCE_MAX, all_entries, chunk, entry, hwm


async def test_known_objects_are_those_with_a_record_until_forgotten(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic)])
    await store.log.commit_flush("flush/2", 100, [chunk(topic)])
    many = [f"flush/never-{index}" for index in range(700)]  # more than one query's worth of keys
    assert await store.log.known_objects(["flush/1", "flush/3", *many, "flush/2"]) == {"flush/1", "flush/2"}
    assert await store.log.known_objects([]) == set()
    await store.log.forget_objects(["flush/1"])
    assert await store.log.known_objects(["flush/1", "flush/2"]) == {"flush/2"}


async def test_commit_assigns_consecutive_offsets_per_partition(store: MetadataStore) -> None:
    a = await store.topics.create_topic("a", 2, {})
    b = await store.topics.create_topic("b", 1, {})
    results = await store.log.commit_flush(
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
    results = await store.log.commit_flush("flush/2", 100, [chunk(a, 1, 10), chunk(a, 0, 1)])
    assert [result.base_offset for result in results] == [6, 5]
    assert await store.log.partition_states(a.topic_id) == [PartitionState(0, 6), PartitionState(0, 16)]
    assert await store.log.partition_states(b.topic_id) == [PartitionState(0, 2)]
    assert await all_entries(store, a, 1) == [
        entry(0, 2, "flush/1", 0),
        entry(3, 3, "flush/1", 200),
        entry(4, 5, "flush/1", 400),
        entry(6, 15, "flush/2", 0),
    ]


async def test_commit_index_rows_hold_the_chunk(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 5000, [chunk(topic, 0, 7, position=1234, length=567, timestamp=42)])
    assert await all_entries(store, topic) == [IndexEntry(0, 6, "flush/1", 1234, 567, 42)]


async def test_a_wide_commit_keeps_every_index_row_and_high_watermark(store: MetadataStore) -> None:
    """700 partitions and 1,000 chunks in one commit: more keys than one look-up statement takes (SQLite: 300)."""
    topic = await store.topics.create_topic("wide", 700, {})
    chunks = [chunk(topic, index % 700, 2, position=index * 100) for index in range(1000)]
    results = await store.log.commit_flushes(
        [FlushCommit("flush/1", 100_000, chunks[:400]), FlushCommit("flush/2", 100_000, chunks[400:])]
    )
    assert [result.base_offset for flush in results for result in flush] == [0] * 700 + [2] * 300
    states = await store.log.partition_states(topic.topic_id)
    assert [state.high_watermark for state in states] == [4] * 300 + [2] * 400
    assert await all_entries(store, topic, 299) == [entry(0, 1, "flush/1", 29_900), entry(2, 3, "flush/2", 99_900)]
    assert await all_entries(store, topic, 699) == [entry(0, 1, "flush/2", 69_900)]
    assert await store.log.unreferenced_objects() == []


async def test_commit_unknown_topic_or_partition(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    results = await store.log.commit_flush(
        "flush/1", 300, [chunk(uuid4()), chunk(topic, 0, 2), chunk(topic, 1), chunk(topic, 0, 1)]
    )
    unknown = AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION)
    assert results == [unknown, AppendResult(0, 0), unknown, AppendResult(2, 0)]
    assert await hwm(store, topic) == 3


async def test_commit_reports_log_start(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, 10)])
    await store.log.set_log_start_offset(topic.topic_id, 0, 4)
    assert await store.log.commit_flush("flush/2", 100, [chunk(topic)]) == [AppendResult(10, 4)]


async def test_concurrent_commits_get_disjoint_offsets(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    flushes = [[chunk(topic, 0, 2), chunk(topic, 0, 3)] for _ in range(10)]
    results = await asyncio.gather(*(store.log.commit_flush(f"flush/{n}", 100, c) for n, c in enumerate(flushes)))
    covered: list[int] = []
    for first, second in results:
        assert second.base_offset == first.base_offset + 2  # one flush's chunks stay together
        covered.extend(range(first.base_offset, first.base_offset + 5))
    assert sorted(covered) == list(range(50))
    assert await hwm(store, topic) == 50


async def test_stores_sharing_a_database_get_disjoint_offsets(shared_backend: Backend, open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    topic = await first.topics.create_topic("t", 1, {})
    results = await asyncio.gather(
        *(
            store.log.commit_flush(f"flush/{n}", 100, [chunk(topic, 0, 2), chunk(topic, 0, 3)])
            for n in range(8)
            for store in (first, second)
        )
    )
    bases = sorted(result[0].base_offset for result in results)
    assert bases == list(range(0, 80, 5))
    assert await hwm(second, topic) == 80


async def test_group_commit_is_the_flushes_committed_one_after_another(store: MetadataStore) -> None:
    a = await store.topics.create_topic("a", 2, {})
    b = await store.topics.create_topic("b", 1, {})
    idempotent = chunk(a, 0, 2, producer=5, epoch=0, sequence=0)
    results = await store.log.commit_flushes(
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
    assert await store.log.partition_states(a.topic_id) == [PartitionState(0, 2), PartitionState(0, 5)]
    assert await all_entries(store, a, 1) == [entry(0, 2, "flush/1", 0), entry(3, 4, "flush/3", 0)]
    assert await store.log.unreferenced_objects() == ["flush/2", "flush/4"]
    after = await store.log.commit_flush("flush/5", 100, [chunk(a, 0, 1, producer=5, epoch=0, sequence=2)])
    assert after == [AppendResult(2, 0)]


async def test_group_commits_of_stores_sharing_a_database_get_disjoint_offsets(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    first, second = await open_store(), await open_store()
    a = await first.topics.create_topic("a", 1, {})
    b = await first.topics.create_topic("b", 1, {})

    calls = [(store, topics) for _ in range(6) for store, topics in ((first, (a, b)), (second, (b, a)))]
    # The two stores name the partitions in opposite orders: the locks must still be taken in one order.
    results = await asyncio.gather(
        *(
            store.log.commit_flushes([FlushCommit(f"flush/{n}-{t.name}", 100, [chunk(t)]) for t in topics])
            for n, (store, topics) in enumerate(calls)
        )
    )
    bases: dict[str, list[int]] = {"a": [], "b": []}
    for (_, topics), flushes in zip(calls, results, strict=True):
        for topic, flush in zip(topics, flushes, strict=True):
            bases[topic.name].append(flush[0].base_offset)
    assert sorted(bases["a"]) == sorted(bases["b"]) == list(range(12))
    assert await hwm(second, a) == 12 and await hwm(second, b) == 12


async def test_idempotent_sequences_accepted_in_order(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    results = await store.log.commit_flush(
        "flush/1",
        300,
        [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0), chunk(topic, 0, 2, producer=5, epoch=0, sequence=3)],
    )
    assert results == [AppendResult(0, 0), AppendResult(3, 0)]
    results = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=5)])
    assert results == [AppendResult(5, 0)]


async def test_idempotent_duplicate_gets_its_first_offset(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/0", 100, [chunk(topic, 0, 10)])
    batch = chunk(topic, 0, 4, producer=5, epoch=0, sequence=0)
    assert await store.log.commit_flush("flush/1", 100, [batch]) == [AppendResult(10, 0)]
    await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 2, producer=5, epoch=0, sequence=4)])
    entries = await all_entries(store, topic)
    assert await store.log.commit_flush("flush/3", 100, [batch]) == [AppendResult(10, 0, duplicate=True)]
    assert await all_entries(store, topic) == entries
    assert await hwm(store, topic) == 16
    assert "flush/3" in await store.log.unreferenced_objects()


async def test_idempotent_duplicate_within_one_flush(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    batch = chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)
    results = await store.log.commit_flush("flush/1", 200, [batch, batch])
    assert results == [AppendResult(0, 0), AppendResult(0, 0, duplicate=True)]
    assert await hwm(store, topic) == 3


async def test_idempotent_duplicates_remembered_for_five_batches(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    batches = [chunk(topic, 0, 1, producer=5, epoch=0, sequence=n) for n in range(6)]
    await store.log.commit_flush("flush/1", 600, batches)
    retried = await store.log.commit_flush("flush/2", 200, [batches[1], batches[0]])
    assert retried == [
        AppendResult(1, 0, duplicate=True),
        AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER),
    ]


async def test_idempotent_gap_is_out_of_order(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)])
    results = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=4)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    assert await hwm(store, topic) == 3
    assert len(await all_entries(store, topic)) == 1
    assert await store.log.commit_flush("flush/3", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=3)]) == [
        AppendResult(3, 0)
    ]


async def test_idempotent_partial_overlap_is_out_of_order(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)])
    results = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 2, producer=5, epoch=0, sequence=2)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]


async def test_new_producer_must_start_at_zero(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    results = await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=7)])
    assert results == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    assert await hwm(store, topic) == 0


async def test_producer_sequences_are_per_partition(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 2, {})
    results = await store.log.commit_flush(
        "flush/1",
        200,
        [chunk(topic, 0, 2, producer=5, epoch=0, sequence=0), chunk(topic, 1, 2, producer=5, epoch=0, sequence=0)],
    )
    assert results == [AppendResult(0, 0), AppendResult(0, 0)]


async def test_producers_are_independent(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    results = await store.log.commit_flush(
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
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, 2, producer=5, epoch=3, sequence=0)])
    for sequence in (0, 2):
        results = await store.log.commit_flush(
            "flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=2, sequence=sequence)]
        )
        assert results == [AppendResult(-1, 0, AppendError.INVALID_PRODUCER_EPOCH)]
    assert await hwm(store, topic) == 2


async def test_new_epoch_restarts_at_zero(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    old = chunk(topic, 0, 3, producer=5, epoch=0, sequence=0)
    await store.log.commit_flush("flush/1", 100, [old])
    refused = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=1, sequence=3)])
    assert refused == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]
    bumped = chunk(topic, 0, 3, producer=5, epoch=1, sequence=0)
    assert await store.log.commit_flush("flush/3", 100, [bumped]) == [AppendResult(3, 0)]
    assert await store.log.commit_flush("flush/4", 100, [bumped]) == [AppendResult(3, 0, duplicate=True)]
    assert await store.log.commit_flush("flush/5", 100, [old]) == [
        AppendResult(-1, 0, AppendError.INVALID_PRODUCER_EPOCH)
    ]
    assert await store.log.commit_flush("flush/6", 100, [chunk(topic, 0, 1, producer=5, epoch=1, sequence=3)]) == [
        AppendResult(6, 0)
    ]


async def test_sequence_wraps_around(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    first = chunk(topic, 0, SEQUENCE_MAX - 1, producer=5, epoch=0, sequence=0)  # sequences 0 .. 2**31-3
    wrapping = chunk(topic, 0, 4, producer=5, epoch=0, sequence=SEQUENCE_MAX - 1)  # 2**31-2, 2**31-1, 0, 1
    after = chunk(topic, 0, 1, producer=5, epoch=0, sequence=2)
    results = await store.log.commit_flush("flush/1", 300, [first, wrapping, after])
    assert results == [AppendResult(0, 0), AppendResult(SEQUENCE_MAX - 1, 0), AppendResult(SEQUENCE_MAX + 3, 0)]
    retried = await store.log.commit_flush("flush/2", 100, [wrapping])
    assert retried == [AppendResult(SEQUENCE_MAX - 1, 0, duplicate=True)]
    gap = await store.log.commit_flush("flush/3", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=0)])
    assert gap == [AppendResult(-1, 0, AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)]


async def test_sequence_wraps_from_the_last_one(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [chunk(topic, 0, SEQUENCE_MAX + 1, producer=5, epoch=0, sequence=0)])
    results = await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1, producer=5, epoch=0, sequence=0)])
    assert results == [AppendResult(SEQUENCE_MAX + 1, 0)]


async def _five_entries(store: MetadataStore, timestamps: list[int] | None = None) -> TopicInfo:
    """Entries 0-1, 2-3, 4-5, 6-7, 8-9 in one object, at positions 0, 100, ..."""
    topic = await store.topics.create_topic("t", 1, {})
    stamps = timestamps or [1_000] * 5
    chunks = [chunk(topic, 0, 2, position=100 * n, timestamp=stamp) for n, stamp in enumerate(stamps)]
    await store.log.commit_flush("flush/1", 500, chunks)
    return topic


async def test_find_index_pages(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    first_page = await store.log.find_index(topic.topic_id, 0, 0, 2)
    assert [(e.base_offset, e.last_offset, e.position) for e in first_page] == [(0, 1, 0), (2, 3, 100)]
    second_page = await store.log.find_index(topic.topic_id, 0, first_page[-1].last_offset + 1, 2)
    assert [e.base_offset for e in second_page] == [4, 6]
    last_page = await store.log.find_index(topic.topic_id, 0, 8, 2)
    assert [e.base_offset for e in last_page] == [8]
    assert await store.log.find_index(topic.topic_id, 0, 10, 2) == []


async def test_find_index_from_inside_an_entry(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert [e.base_offset for e in await store.log.find_index(topic.topic_id, 0, 5, 10)] == [4, 6, 8]
    assert [e.base_offset for e in await store.log.find_index(topic.topic_id, 0, 9, 10)] == [8]


async def test_find_index_below_the_log_start(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    await store.log.set_log_start_offset(topic.topic_id, 0, 5)
    assert [e.base_offset for e in await store.log.find_index(topic.topic_id, 0, 0, 10)] == [4, 6, 8]


async def test_find_index_unknown_partition(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.log.find_index(topic.topic_id, 1, 0, 10) == []
    assert await store.log.find_index(uuid4(), 0, 0, 10) == []


async def test_find_by_timestamp(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 300, 200, 400, 300])
    found = {
        stamp: await store.log.find_by_timestamp(topic.topic_id, 0, stamp)
        for stamp in (0, 100, 150, 250, 300, 301, 400)
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
    assert await store.log.find_by_timestamp(topic.topic_id, 0, 401) is None
    assert await store.log.find_by_timestamp(topic.topic_id, 1, 0) is None


async def test_max_timestamp_entry(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 400, 200, 400, 300])
    assert await store.log.max_timestamp_entry(topic.topic_id, 0) == IndexEntry(2, 3, "flush/1", 100, 100, 400)
    assert await store.log.max_timestamp_entry(topic.topic_id, 1) is None
    assert await store.log.max_timestamp_entry(uuid4(), 0) is None


async def test_partition_sizes_sum_the_index(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("sized", 3, {})
    await store.log.commit_flush("flush/1", 500, [chunk(topic, 0, 2, length=100), chunk(topic, 2, 1, length=40)])
    await store.log.commit_flush("flush/2", 500, [chunk(topic, 0, 1, length=30)])
    assert await store.log.partition_sizes(topic.topic_id) == {0: 130, 2: 40}  # partition 1 holds nothing
    await store.log.set_log_start_offset(topic.topic_id, 0, 2)  # drops the first entry of partition 0
    assert await store.log.partition_sizes(topic.topic_id) == {0: 30, 2: 40}
    assert await store.log.partition_sizes(UUID(int=5)) == {}


async def test_set_log_start_offset_drops_entries_wholly_below(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.log.set_log_start_offset(topic.topic_id, 0, 5) == PartitionState(5, 10)
    assert await store.log.partition_states(topic.topic_id) == [PartitionState(5, 10)]
    assert [e.base_offset for e in await all_entries(store, topic)] == [4, 6, 8]
    assert await store.log.set_log_start_offset(topic.topic_id, 0, 6) == PartitionState(6, 10)
    assert [e.base_offset for e in await all_entries(store, topic)] == [6, 8]


async def test_set_log_start_offset_never_moves_back(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    await store.log.set_log_start_offset(topic.topic_id, 0, 6)
    assert await store.log.set_log_start_offset(topic.topic_id, 0, 2) == PartitionState(6, 10)
    assert await store.log.set_log_start_offset(topic.topic_id, 0, 6) == PartitionState(6, 10)
    assert await store.log.partition_states(topic.topic_id) == [PartitionState(6, 10)]


async def test_set_log_start_offset_to_the_high_watermark(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    assert await store.log.set_log_start_offset(topic.topic_id, 0, 10) == PartitionState(10, 10)
    assert await all_entries(store, topic) == []
    assert await store.log.unreferenced_objects() == ["flush/1"]


async def test_set_log_start_offset_beyond_the_high_watermark(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    with pytest.raises(OffsetOutOfRangeError):
        await store.log.set_log_start_offset(topic.topic_id, 0, 11)
    assert await store.log.partition_states(topic.topic_id) == [PartitionState(0, 10)]
    assert len(await all_entries(store, topic)) == 5


async def test_set_log_start_offset_unknown_partition(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    with pytest.raises(UnknownTopicError):
        await store.log.set_log_start_offset(topic.topic_id, 1, 0)
    with pytest.raises(UnknownTopicError):
        await store.log.set_log_start_offset(uuid4(), 0, 0)


async def test_replace_index(store: MetadataStore) -> None:
    topic = await _five_entries(store, [100, 200, 300, 400, 500])
    await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 1)])
    old = (await all_entries(store, topic))[:5]
    new = [entry(0, 5, "segment/0", 0, 300, 300), entry(6, 9, "segment/0", 300, 200, 500)]
    assert await store.log.replace_index(topic.topic_id, 0, old, new, "segment/0", 500)
    assert await all_entries(store, topic) == [*new, entry(10, 10, "flush/2")]
    assert await store.log.unreferenced_objects() == ["flush/1"]
    assert await store.log.find_by_timestamp(topic.topic_id, 0, 350) == new[1]


async def test_replace_index_refuses_changed_entries(store: MetadataStore) -> None:
    topic = await _five_entries(store)
    old = await all_entries(store, topic)
    new = [entry(0, 9, "segment/0", 0, 500)]
    await store.log.set_log_start_offset(topic.topic_id, 0, 2)
    assert not await store.log.replace_index(topic.topic_id, 0, old, new, "segment/0", 500)
    assert await all_entries(store, topic) == old[1:]
    assert "segment/0" not in await store.log.unreferenced_objects()
    moved = [*old[1:4], entry(8, 9, "elsewhere", 400)]
    assert not await store.log.replace_index(
        topic.topic_id, 0, moved, [entry(2, 9, "segment/1", 0, 400)], "segment/1", 400
    )
    assert await all_entries(store, topic) == old[1:]


async def test_unreferenced_and_forgotten_objects(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/empty", 0, [])
    await store.log.commit_flush("flush/refused", 100, [chunk(uuid4())])
    await store.log.commit_flush("flush/1", 200, [chunk(topic, 0, 2), chunk(topic, 0, 2, position=100)])
    await store.log.commit_flush("flush/2", 100, [chunk(topic, 0, 2)])
    assert await store.log.unreferenced_objects() == ["flush/empty", "flush/refused"]
    await store.log.set_log_start_offset(topic.topic_id, 0, 3)  # flush/1's first chunk only
    assert await store.log.unreferenced_objects() == ["flush/empty", "flush/refused"]
    await store.log.set_log_start_offset(topic.topic_id, 0, 4)
    assert await store.log.unreferenced_objects() == ["flush/1", "flush/empty", "flush/refused"]
    await store.log.forget_objects(["flush/1", "flush/empty"])
    assert await store.log.unreferenced_objects() == ["flush/refused"]
    await store.log.forget_objects([])
    assert await store.log.unreferenced_objects() == ["flush/refused"]


async def test_cancelled_calls_leave_the_store_usable(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    for steps in range(12):  # cancel at each point a commit can be waiting at
        task = asyncio.create_task(store.log.commit_flush(f"flush/{steps}", 100, [chunk(topic)]))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        before = await hwm(store, topic)
        assert await store.log.commit_flush(f"flush/after-{steps}", 100, [chunk(topic)]) == [AppendResult(before, 0)]
    entries = await all_entries(store, topic)
    assert [e.base_offset for e in entries] == list(range(await hwm(store, topic)))
