"""The transaction APIs through their handlers: InitProducerId with a transactional id,
AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions,
ListTransactions, and what Fetch and ListOffsets make of transactions (last stable offset,
read_committed, aborted transactions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.transactions import COMPLETE_ABORT, COMPLETE_COMMIT, ONGOING
from streamhouse.metadata.base import CommittedOffset
from streamhouse.protocol.apis.add_offsets_to_txn import ADD_OFFSETS_TO_TXN
from streamhouse.protocol.apis.add_partitions_to_txn import ADD_PARTITIONS_TO_TXN
from streamhouse.protocol.apis.describe_transactions import DESCRIBE_TRANSACTIONS
from streamhouse.protocol.apis.end_txn import END_TXN
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.list_transactions import LIST_TRANSACTIONS
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.apis.sync_group import SYNC_GROUP
from streamhouse.protocol.apis.txn_offset_commit import TXN_OFFSET_COMMIT
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch, build_marker_batch, iter_batches, iter_records
from tests.broker.inprocess import running_broker
from tests.broker.test_admin_handlers import call, create, versions
from tests.broker.test_group_handlers import Peer, join, send
from tests.wireclient import produce_body

READ_UNCOMMITTED, READ_COMMITTED = 0, 1


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path, transaction_max_timeout_ms=60_000) as instance:
        yield instance


async def init(
    broker: Broker, tid: str, version: int = 4, timeout_ms: int = 60_000, pid: int = -1, epoch: int = -1
) -> Any:
    body = INIT_PRODUCER_ID.Request(
        transactional_id=tid, transaction_timeout_ms=timeout_ms, producer_id=pid, producer_epoch=epoch
    )
    return await call(broker, INIT_PRODUCER_ID, version, body)


async def add_partitions(
    broker: Broker, tid: str, pid: int, epoch: int, partitions: dict[str, list[int]], version: int = 3
) -> dict[tuple[str, int], int]:
    Topic = ADD_PARTITIONS_TO_TXN.Request.AddPartitionsToTxnTopic
    body = ADD_PARTITIONS_TO_TXN.Request(
        v3_and_below_transactional_id=tid,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[Topic(name=name, partitions=indexes) for name, indexes in partitions.items()],
    )
    response = await call(broker, ADD_PARTITIONS_TO_TXN, version, body)
    return {
        (topic.name, result.partition_index): result.partition_error_code
        for topic in response.results_by_topic_v3_and_below
        for result in topic.results_by_partition
    }


async def add_offsets(broker: Broker, tid: str, pid: int, epoch: int, group: str, version: int = 3) -> int:
    body = ADD_OFFSETS_TO_TXN.Request(transactional_id=tid, producer_id=pid, producer_epoch=epoch, group_id=group)
    error: int = (await call(broker, ADD_OFFSETS_TO_TXN, version, body)).error_code
    return error


async def end(broker: Broker, tid: str, pid: int, epoch: int, commit: bool, version: int = 3) -> int:
    body = END_TXN.Request(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=commit)
    error: int = (await call(broker, END_TXN, version, body)).error_code
    return error


async def txn_commit_offsets(
    broker: Broker,
    tid: str,
    pid: int,
    epoch: int,
    group: str,
    offsets: dict[tuple[str, int], int],
    version: int = 3,
    member: tuple[str, int] = ("", -1),
) -> dict[tuple[str, int], int]:
    Topic = TXN_OFFSET_COMMIT.Request.TxnOffsetCommitRequestTopic
    topics: dict[str, list[Any]] = {}
    for (name, partition), offset in offsets.items():
        topics.setdefault(name, []).append(
            Topic.TxnOffsetCommitRequestPartition(
                partition_index=partition, committed_offset=offset, committed_metadata="m"
            )
        )
    body = TXN_OFFSET_COMMIT.Request(
        transactional_id=tid,
        group_id=group,
        producer_id=pid,
        producer_epoch=epoch,
        member_id=member[0],
        generation_id=member[1],
        topics=[Topic(name=name, partitions=partitions) for name, partitions in topics.items()],
    )
    response = await call(broker, TXN_OFFSET_COMMIT, version, body)
    return {(t.name, p.partition_index): p.error_code for t in response.topics for p in t.partitions}


async def produce(
    broker: Broker,
    name: str,
    partition: int,
    pid: int,
    epoch: int,
    sequence: int,
    values: list[bytes],
    tid: str = "tx",
    version: int = 9,
) -> Any:
    data = build_batch(
        [Record(key=None, value=value) for value in values],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=sequence,
        is_transactional=True,
    )
    return await produce_raw(broker, name, partition, data, tid, version)


async def produce_raw(
    broker: Broker, name: str, partition: int, data: bytes, tid: str | None = None, version: int = 9
) -> Any:
    body = produce_body(name, data, partition=partition)
    body.transactional_id = tid
    [topic] = (await call(broker, PRODUCE, version, body, Peer())).responses
    [answer] = topic.partition_responses
    return answer


async def fetch(broker: Broker, name: str, offset: int, isolation: int, max_wait_ms: int = 0) -> Any:
    Topic = FETCH.Request.FetchTopic
    body = FETCH.Request(
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        isolation_level=isolation,
        topics=[
            Topic(
                topic=name,
                partitions=[Topic.FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)],
            )
        ],
    )
    [topic] = (await call(broker, FETCH, 12, body)).responses
    [partition] = topic.partitions
    return partition


def values(records: bytes) -> list[bytes | None]:
    """Values of the data records (control batches left out, as clients do)."""
    return [
        record.value
        for header, batch in iter_batches(records)
        if not header.is_control
        for record in iter_records(header, batch)
    ]


async def latest(broker: Broker, name: str, isolation: int) -> int:
    Topic = LIST_OFFSETS.Request.ListOffsetsTopic
    body = LIST_OFFSETS.Request(
        replica_id=-1,
        isolation_level=isolation,
        topics=[Topic(name=name, partitions=[Topic.ListOffsetsPartition(partition_index=0, timestamp=-1)])],
    )
    [topic] = (await call(broker, LIST_OFFSETS, 7, body)).topics
    offset: int = topic.partitions[0].offset
    return offset


# -- InitProducerId ----------------------------------------------------------------


@pytest.mark.parametrize("version", versions(INIT_PRODUCER_ID))
async def test_init_gives_an_id_then_bumps_its_epoch(broker: Broker, version: int) -> None:
    first = await init(broker, "tx", version)
    assert (first.error_code, first.producer_epoch) == (ErrorCode.NONE, 0)
    again = await init(broker, "tx", version)
    assert (again.error_code, again.producer_id, again.producer_epoch) == (ErrorCode.NONE, first.producer_id, 1)
    other = await init(broker, "other", version)
    assert other.producer_id != first.producer_id


@pytest.mark.parametrize("timeout_ms", [0, -1, 60_001])
async def test_init_refuses_a_timeout_out_of_range(broker: Broker, timeout_ms: int) -> None:
    response = await init(broker, "tx", timeout_ms=timeout_ms)
    assert (response.error_code, response.producer_id) == (ErrorCode.INVALID_TRANSACTION_TIMEOUT, -1)


async def test_init_with_a_stale_producer_is_fenced(broker: Broker) -> None:
    first = await init(broker, "tx")
    await init(broker, "tx")  # another instance: epoch 1
    stale = await init(broker, "tx", 4, pid=first.producer_id, epoch=0)
    assert stale.error_code == ErrorCode.PRODUCER_FENCED
    old_client = await init(broker, "tx", 3, pid=first.producer_id, epoch=0)
    assert old_client.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    current = await init(broker, "tx", 4, pid=first.producer_id, epoch=1)  # KIP-360: the current one may bump
    assert (current.error_code, current.producer_epoch) == (ErrorCode.NONE, 2)


async def test_init_aborts_the_ongoing_transaction(broker: Broker) -> None:
    await create(broker, "t")
    first = await init(broker, "tx")
    assert await add_partitions(broker, "tx", first.producer_id, 0, {"t": [0]}) == {("t", 0): ErrorCode.NONE}
    assert (await produce(broker, "t", 0, first.producer_id, 0, 0, [b"lost"])).error_code == ErrorCode.NONE
    assert (await fetch(broker, "t", 0, READ_COMMITTED)).last_stable_offset == 0
    second = await init(broker, "tx")
    assert second.producer_epoch == 2  # one bump fenced the old instance's transaction, one for the new instance
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.high_watermark, partition.last_stable_offset) == (2, 2)
    assert [(a.producer_id, a.first_offset) for a in partition.aborted_transactions] == [(first.producer_id, 0)]
    late = await produce(broker, "t", 0, first.producer_id, 0, 1, [b"zombie"])
    assert late.error_code == ErrorCode.INVALID_PRODUCER_EPOCH


async def test_init_elsewhere_is_not_coordinator(broker: Broker) -> None:
    broker.transactions.owns = lambda transactional_id: False
    assert (await init(broker, "tx")).error_code == ErrorCode.NOT_COORDINATOR


# -- AddPartitionsToTxn, AddOffsetsToTxn, EndTxn ----------------------------------------


async def test_unknown_transactional_id_or_producer(broker: Broker) -> None:
    await create(broker, "t")
    assert await add_partitions(broker, "nobody", 1, 0, {"t": [0]}) == {("t", 0): ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert await add_offsets(broker, "nobody", 1, 0, "g") == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert await end(broker, "nobody", 1, 0, True) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    producer = await init(broker, "tx")
    assert await end(broker, "tx", producer.producer_id + 1, 0, True) == ErrorCode.INVALID_PRODUCER_ID_MAPPING


@pytest.mark.parametrize(("version", "error"), [(1, ErrorCode.INVALID_PRODUCER_EPOCH), (2, ErrorCode.PRODUCER_FENCED)])
async def test_wrong_epoch_is_fenced(broker: Broker, version: int, error: ErrorCode) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await add_partitions(broker, "tx", pid, 1, {"t": [0]}, version) == {("t", 0): error}
    assert await add_offsets(broker, "tx", pid, 1, "g", version) == error
    assert await end(broker, "tx", pid, 1, True, version) == error


async def test_unknown_partitions_add_none(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    errors = await add_partitions(broker, "tx", producer.producer_id, 0, {"t": [0, 5], "absent": [0]})
    assert errors == {
        ("t", 0): ErrorCode.OPERATION_NOT_ATTEMPTED,
        ("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ("absent", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    }
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and record.partitions == ()


async def test_end_without_a_transaction_is_invalid_state(broker: Broker) -> None:
    producer = await init(broker, "tx")
    assert await end(broker, "tx", producer.producer_id, 0, True) == ErrorCode.INVALID_TXN_STATE


async def test_end_with_the_other_decision_is_invalid_state(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    assert await end(broker, "tx", pid, 0, False) == ErrorCode.NONE
    assert await end(broker, "tx", pid, 0, False) == ErrorCode.NONE  # a retry
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.INVALID_TXN_STATE


async def test_requests_while_markers_are_written_get_concurrent_transactions(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    broker.log.flush_ms = 60_000  # the marker waits in the write buffer
    ending = asyncio.create_task(end(broker, "tx", pid, 0, True))
    while "tx" not in broker.transactions._completing:
        await asyncio.sleep(0.01)
    assert await add_partitions(broker, "tx", pid, 0, {"t": [0]}) == {("t", 0): ErrorCode.CONCURRENT_TRANSACTIONS}
    assert (await init(broker, "tx")).error_code == ErrorCode.CONCURRENT_TRANSACTIONS
    broker.log.flush_immediately()
    assert await ending == ErrorCode.NONE


async def test_commit_makes_records_and_offsets_visible(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await add_partitions(broker, "tx", pid, 0, {"t": [0]}) == {("t", 0): ErrorCode.NONE}
    assert await add_offsets(broker, "tx", pid, 0, "g") == ErrorCode.NONE
    assert (await produce(broker, "t", 0, pid, 0, 0, [b"a", b"b"])).base_offset == 0
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 7}) == {("t", 0): ErrorCode.NONE}
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 9): 1}) == {
        ("t", 9): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    }
    assert await broker.metadata.groups.fetch_offsets("g") == []  # pending until the commit
    open_read = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (open_read.high_watermark, open_read.last_stable_offset, open_read.records) == (2, 0, b"")
    assert await latest(broker, "t", READ_COMMITTED) == 0
    assert await latest(broker, "t", READ_UNCOMMITTED) == 2
    assert values((await fetch(broker, "t", 0, READ_UNCOMMITTED)).records) == [b"a", b"b"]

    assert await end(broker, "tx", pid, 0, True) == ErrorCode.NONE
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.high_watermark, partition.last_stable_offset) == (3, 3)
    assert values(partition.records) == [b"a", b"b"]
    assert partition.aborted_transactions == []
    [offset] = await broker.metadata.groups.fetch_offsets("g")
    assert (offset.topic, offset.partition, offset.offset, offset.metadata) == ("t", 0, 7, "m")
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.partitions, record.pending_offsets) == (COMPLETE_COMMIT, (), ())
    assert broker.transactions._locks == {}  # forgotten once no request uses them


async def test_abort_hides_records_and_drops_offsets(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    await add_offsets(broker, "tx", pid, 0, "g")
    await produce(broker, "t", 0, pid, 0, 0, [b"gone"])
    await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 1})
    assert await end(broker, "tx", pid, 0, False) == ErrorCode.NONE
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.high_watermark, partition.last_stable_offset) == (2, 2)
    assert [(a.producer_id, a.first_offset) for a in partition.aborted_transactions] == [(pid, 0)]
    assert await broker.metadata.groups.fetch_offsets("g") == []
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and record.state == COMPLETE_ABORT


async def test_txn_offset_commit_needs_the_group_in_the_transaction(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 1}) == {("t", 0): ErrorCode.INVALID_TXN_STATE}
    await add_offsets(broker, "tx", pid, 0, "g")
    assert await txn_commit_offsets(broker, "tx", pid, 0, "other", {("t", 0): 1}) == {
        ("t", 0): ErrorCode.INVALID_TXN_STATE
    }
    assert await txn_commit_offsets(broker, "tx", pid, 1, "g", {("t", 0): 1}) == {
        ("t", 0): ErrorCode.INVALID_PRODUCER_EPOCH
    }
    assert await txn_commit_offsets(broker, "nobody", pid, 0, "g", {("t", 0): 1}) == {
        ("t", 0): ErrorCode.INVALID_PRODUCER_ID_MAPPING
    }


async def test_txn_offset_commit_without_a_member_is_not_checked_against_the_group_members(broker: Broker) -> None:
    await create(broker, "t")
    joined = await join(broker, 3)  # an active member, generation 1, synced: the group is Stable
    member_id = joined.member_id
    assignment = SYNC_GROUP.Request.SyncGroupRequestAssignment(member_id=member_id, assignment=b"")
    synced = await send(
        broker, SYNC_GROUP, 3, group_id="g", generation_id=1, member_id=member_id, assignments=[assignment]
    )
    assert synced.error_code == ErrorCode.NONE
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await add_offsets(broker, "tx", pid, 0, "g") == ErrorCode.NONE
    # v0-2 carry no member id or generation (older transactional producers): accepted, as Kafka does.
    for version in (0, 2, 3):
        assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): version}, version) == {
            ("t", 0): ErrorCode.NONE
        }
    # v3 naming a member is checked: a stranger, then a member of another generation.
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 5}, 3, ("stranger", 1)) == {
        ("t", 0): ErrorCode.UNKNOWN_MEMBER_ID
    }
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 5}, 3, (member_id, 7)) == {
        ("t", 0): ErrorCode.ILLEGAL_GENERATION
    }
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 6}, 3, (member_id, 1)) == {
        ("t", 0): ErrorCode.NONE
    }
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.NONE
    assert [(o.topic, o.partition, o.offset) for o in await broker.metadata.groups.fetch_offsets("g")] == [("t", 0, 6)]


async def test_long_poll_read_committed_wakes_when_the_transaction_commits(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    await produce(broker, "t", 0, pid, 0, 0, [b"later"])
    waiting = asyncio.create_task(fetch(broker, "t", 0, READ_COMMITTED, max_wait_ms=20_000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.NONE
    partition = await asyncio.wait_for(waiting, 10)
    assert values(partition.records) == [b"later"]


async def test_timed_out_transactions_are_aborted_and_fenced(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx", timeout_ms=1)
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    await produce(broker, "t", 0, pid, 0, 0, [b"expired"])
    await asyncio.sleep(0.05)
    await broker.transactions.expire()
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.producer_epoch) == (COMPLETE_ABORT, 1)
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.PRODUCER_FENCED
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.last_stable_offset, [a.first_offset for a in partition.aborted_transactions]) == (2, [0])


async def test_the_producer_whose_transaction_timed_out_may_bump_itself(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx", timeout_ms=1)
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    await asyncio.sleep(0.05)
    await broker.transactions.expire()  # aborted under epoch 1
    resumed = await init(broker, "tx", pid=pid, epoch=0)  # KIP-360, as librdkafka does after the abort
    assert (resumed.error_code, resumed.producer_id, resumed.producer_epoch) == (ErrorCode.NONE, pid, 2)
    assert (await init(broker, "tx", pid=pid, epoch=0)).error_code == ErrorCode.PRODUCER_FENCED  # once only


async def test_ongoing_transactions_within_their_timeout_are_kept(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    await add_partitions(broker, "tx", producer.producer_id, 0, {"t": [0]})
    await broker.transactions.expire()
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and record.state == ONGOING


async def test_clients_may_not_produce_control_batches(broker: Broker) -> None:
    await create(broker, "t")
    answer = await produce_raw(broker, "t", 0, build_marker_batch(True, 1, 0))
    assert answer.error_code == ErrorCode.INVALID_RECORD


async def test_committed_offsets_are_reported_with_the_commit_time(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_offsets(broker, "tx", pid, 0, "g")
    await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 3})
    await end(broker, "tx", pid, 0, True)
    [offset] = await broker.metadata.groups.fetch_offsets("g")
    assert offset.commit_time_ms > 0
    assert CommittedOffset("t", 0, 3, -1, "m", offset.commit_time_ms) == offset


# -- DescribeTransactions, ListTransactions -----------------------------------------------


async def describe(broker: Broker, *transactional_ids: str) -> dict[str, Any]:
    body = DESCRIBE_TRANSACTIONS.Request(transactional_ids=list(transactional_ids))
    response = await call(broker, DESCRIBE_TRANSACTIONS, 0, body)
    return {state.transactional_id: state for state in response.transaction_states}


async def list_transactions(broker: Broker, version: int = 1, **filters: Any) -> Any:
    return await call(broker, LIST_TRANSACTIONS, version, LIST_TRANSACTIONS.Request(**filters))


async def test_describe_transactions(broker: Broker) -> None:
    await create(broker, "t", 2)
    producer = await init(broker, "tx")
    await add_partitions(broker, "tx", producer.producer_id, 0, {"t": [1, 0]})
    found = await describe(broker, "tx", "nobody")
    assert found["nobody"].error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
    tx = found["tx"]
    assert (tx.error_code, tx.transaction_state, tx.producer_id, tx.producer_epoch) == (
        ErrorCode.NONE,
        ONGOING,
        producer.producer_id,
        0,
    )
    assert tx.transaction_timeout_ms == 60_000 and tx.transaction_start_time_ms > 0
    assert [(topic.topic, topic.partitions) for topic in tx.topics] == [("t", [1, 0])]
    broker.transactions.owns = lambda transactional_id: False
    assert (await describe(broker, "tx"))["tx"].error_code == ErrorCode.NOT_COORDINATOR


async def test_list_transactions_with_filters(broker: Broker) -> None:
    await create(broker, "t")
    ongoing = await init(broker, "a")
    await add_partitions(broker, "a", ongoing.producer_id, 0, {"t": [0]})
    empty = await init(broker, "b")
    everything = await list_transactions(broker)
    assert everything.error_code == ErrorCode.NONE
    assert [(s.transactional_id, s.producer_id, s.transaction_state) for s in everything.transaction_states] == [
        ("a", ongoing.producer_id, ONGOING),
        ("b", empty.producer_id, "Empty"),
    ]
    by_state = await list_transactions(broker, state_filters=["Ongoing", "Sleeping"])
    assert [s.transactional_id for s in by_state.transaction_states] == ["a"]
    assert by_state.unknown_state_filters == ["Sleeping"]
    by_producer = await list_transactions(broker, 0, producer_id_filters=[empty.producer_id])
    assert [s.transactional_id for s in by_producer.transaction_states] == ["b"]
    long_running = await list_transactions(broker, duration_filter=3_600_000)
    assert long_running.transaction_states == []
    broker.transactions.owns = lambda transactional_id: False
    assert (await list_transactions(broker)).transaction_states == []
