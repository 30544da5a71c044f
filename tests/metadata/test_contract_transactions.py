"""The MetadataStore contract, the transactions role (store.transactions): producer ids,
transaction records, partitions' transactions.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

import asyncio

from streamhouse.metadata.base import (
    MARKER_ABORT,
    MARKER_COMMIT,
    AbortedTransaction,
    AppendError,
    CommittedOffset,
    MetadataStore,
    PartitionChange,
    PartitionTransactions,
    TransactionRecord,
)
from tests.metadata.conftest import Backend, OpenStore
from tests.metadata.contract import chunk, hwm, marker, recorder, txn_chunk


async def test_allocate_producer_id_is_unique(store: MetadataStore) -> None:
    ids = await asyncio.gather(*(store.transactions.allocate_producer_id() for _ in range(20)))
    ids.append(await store.transactions.allocate_producer_id())
    assert len(set(ids)) == 21
    assert min(ids) >= 0


async def test_allocate_producer_id_across_stores(shared_backend: Backend, open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    ids = await asyncio.gather(
        *(store.transactions.allocate_producer_id() for _ in range(10) for store in (first, second))
    )
    assert len(set(ids)) == 20


async def test_save_and_get_transaction(store: MetadataStore) -> None:
    assert await store.transactions.get_transaction("tx") is None
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
    assert await store.transactions.save_transaction(record)
    assert await store.transactions.get_transaction("tx") == record
    assert await store.transactions.list_transactions() == [record]


async def test_save_transaction_refuses_a_stale_version(store: MetadataStore) -> None:
    first = TransactionRecord("tx", 7, 0, "Empty", 60_000)
    assert await store.transactions.save_transaction(first)
    assert not await store.transactions.save_transaction(first)  # version 1 again: the id exists
    second = TransactionRecord("tx", 7, 1, "Empty", 60_000, version=2)
    assert await store.transactions.save_transaction(second)
    stale = TransactionRecord("tx", 7, 5, "Ongoing", 60_000, version=2)
    assert not await store.transactions.save_transaction(stale, [("g", CommittedOffset("t", 0, 9))])
    assert await store.transactions.get_transaction("tx") == second
    assert await store.groups.fetch_offsets("g") == []


async def test_delete_transaction_only_of_the_version_read(store: MetadataStore) -> None:
    first = TransactionRecord("tx", 7, 0, "Empty", 60_000)
    assert await store.transactions.save_transaction(first)
    second = TransactionRecord("tx", 7, 1, "Empty", 60_000, version=2)
    assert await store.transactions.save_transaction(second)
    assert not await store.transactions.delete_transaction(first)  # saved again since it was read
    assert await store.transactions.get_transaction("tx") == second
    assert await store.transactions.delete_transaction(second)
    assert await store.transactions.get_transaction("tx") is None
    assert not await store.transactions.delete_transaction(second)
    assert await store.transactions.save_transaction(first)  # the id starts over at version 1


async def test_save_transaction_commits_offsets_with_it(store: MetadataStore) -> None:
    assert await store.transactions.save_transaction(TransactionRecord("tx", 7, 0, "Empty", 60_000))
    record = TransactionRecord("tx", 7, 0, "PrepareCommit", 60_000, version=2)
    offsets = [("g", CommittedOffset("t", 0, 9, commit_time_ms=3)), ("h", CommittedOffset("t", 1, 4))]
    assert await store.transactions.save_transaction(record, offsets)
    assert await store.groups.fetch_offsets("g") == [CommittedOffset("t", 0, 9, commit_time_ms=3)]
    assert await store.groups.fetch_offsets("h") == [CommittedOffset("t", 1, 4)]


async def test_list_transactions_by_id(store: MetadataStore) -> None:
    for name in ("b", "a", "c"):
        assert await store.transactions.save_transaction(TransactionRecord(name, 1, 0, "Empty", 1_000))
    assert [record.transactional_id for record in await store.transactions.list_transactions()] == ["a", "b", "c"]


async def test_transactional_batches_open_a_transaction_at_their_first_offset(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 2, {})
    await store.log.commit_flush("flush/0", 100, [chunk(topic, 0, 3)])
    await store.log.commit_flush("flush/1", 300, [txn_chunk(topic, 0, 7, 0, 0, 2), txn_chunk(topic, 0, 7, 0, 2)])
    await store.log.commit_flush("flush/2", 100, [txn_chunk(topic, 0, 8, 0, 0)])
    state = await store.transactions.partition_transactions(topic.topic_id, 0)
    assert state.open == ((7, 3), (8, 6))
    assert state.last_stable_offset(await hwm(store, topic)) == 3
    assert await store.transactions.partition_transactions(topic.topic_id, 1) == PartitionTransactions()


async def test_markers_close_transactions_and_aborts_are_recorded(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 200, [txn_chunk(topic, 0, 7, 0, 0, 2), txn_chunk(topic, 0, 8, 0, 0)])
    changes = recorder(store)
    results = await store.log.commit_flush(
        "flush/2", 200, [marker(topic, 0, 7, 0, MARKER_ABORT), marker(topic, 0, 8, 0, MARKER_COMMIT)]
    )
    assert [result.base_offset for result in results] == [3, 4]
    state = await store.transactions.partition_transactions(topic.topic_id, 0)
    assert state == PartitionTransactions((), (AbortedTransaction(7, 0, 3),))
    assert state.last_stable_offset(5) == 5
    assert changes == [PartitionChange(topic.topic_id, 0, 0, 5, transactions=True, local=True)]


async def test_a_repeated_marker_changes_no_transaction(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.log.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    results = await store.log.commit_flush("flush/3", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    assert results[0].base_offset == 2
    assert (await store.transactions.partition_transactions(topic.topic_id, 0)).aborted == (
        AbortedTransaction(7, 0, 1),
    )


async def test_a_marker_of_a_newer_epoch_fences_the_older(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.log.commit_flush("flush/2", 100, [marker(topic, 0, 7, 1, MARKER_ABORT)])
    late = await store.log.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 7, 0, 1)])
    assert late[0].error_code == AppendError.INVALID_PRODUCER_EPOCH
    stale_marker = await store.log.commit_flush("flush/4", 100, [marker(topic, 0, 7, 0, MARKER_COMMIT)])
    assert stale_marker[0].error_code == AppendError.INVALID_PRODUCER_EPOCH
    fresh = await store.log.commit_flush("flush/5", 100, [txn_chunk(topic, 0, 7, 1, 0)])
    assert fresh[0].base_offset == 2  # the new epoch starts at sequence 0
    assert (await store.transactions.partition_transactions(topic.topic_id, 0)).open == ((7, 2),)


async def test_a_retried_transactional_batch_opens_nothing(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.log.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_COMMIT)])
    duplicate = await store.log.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    assert duplicate[0].duplicate
    assert await store.transactions.partition_transactions(topic.topic_id, 0) == PartitionTransactions()


async def test_aborted_transactions_below_the_log_start_are_dropped(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    await store.log.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    await store.log.commit_flush("flush/3", 100, [txn_chunk(topic, 0, 8, 0, 0)])
    await store.log.commit_flush("flush/4", 100, [marker(topic, 0, 8, 0, MARKER_ABORT)])
    await store.log.set_log_start_offset(topic.topic_id, 0, 2)
    assert (await store.transactions.partition_transactions(topic.topic_id, 0)).aborted == (
        AbortedTransaction(8, 2, 3),
    )


async def test_delete_topic_drops_its_transactions(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0), txn_chunk(topic, 0, 8, 0, 0)])
    await store.log.commit_flush("flush/2", 100, [marker(topic, 0, 7, 0, MARKER_ABORT)])
    await store.topics.delete_topic("t")
    assert await store.transactions.partition_transactions(topic.topic_id, 0) == PartitionTransactions()


async def test_transactions_survive_a_restart(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    topic = await store.topics.create_topic("t", 1, {})
    await store.log.commit_flush("flush/1", 100, [txn_chunk(topic, 0, 7, 0, 0)])
    assert await store.transactions.save_transaction(
        TransactionRecord("tx", 7, 0, "Ongoing", 1_000, partitions=(("t", 0),))
    )
    await store.close()
    reopened = await open_store()
    assert (await reopened.transactions.partition_transactions(topic.topic_id, 0)).open == ((7, 0),)
    assert (await reopened.transactions.get_transaction("tx")) == TransactionRecord(
        "tx", 7, 0, "Ongoing", 1_000, partitions=(("t", 0),)
    )
