"""Kafka 4's versions through the handlers: ApiVersions v4 with the transaction.version feature,
Fetch by topic id (v13+), and transactions v2 (KIP-890): partitions verified or added by the
produce, the epoch bumped by every EndTxn v5, AddPartitionsToTxn's brokers' form (v4+)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.security.authorizer import Operation
from streamhouse.broker.transactions import COMPLETE_ABORT, COMPLETE_COMMIT, ONGOING
from streamhouse.protocol.apis.add_partitions_to_txn import ADD_PARTITIONS_TO_TXN
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.end_txn import END_TXN
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.get_telemetry_subscriptions import GET_TELEMETRY_SUBSCRIPTIONS
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.push_telemetry import PUSH_TELEMETRY
from streamhouse.protocol.errors import ErrorCode
from tests.broker.inprocess import running_broker
from tests.broker.test_acl_handlers import ADMIN, ALICE, CLUSTER, TOPIC, creatable, grant, send
from tests.broker.test_admin_handlers import call, create
from tests.broker.test_transaction_handlers import (
    READ_COMMITTED,
    add_offsets,
    add_partitions,
    end,
    fetch,
    init,
    produce,
    txn_commit_offsets,
    values,
)

ZERO_UUID = UUID(int=0)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path, transaction_max_timeout_ms=60_000) as instance:
        yield instance


async def end_v5(broker: Broker, tid: str, pid: int, epoch: int, commit: bool) -> Any:
    body = END_TXN.Request(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=commit)
    return await call(broker, END_TXN, 5, body)


# -- ApiVersions -------------------------------------------------------------------


@pytest.mark.parametrize(("version", "supported"), [(3, []), (4, [("transaction.version", 0, 2)])])
async def test_api_versions_finalizes_transaction_version_2(
    broker: Broker, version: int, supported: list[tuple[str, int, int]]
) -> None:
    response = await call(broker, API_VERSIONS, version, API_VERSIONS.Request())
    # v3 leaves out a supported feature whose lowest level is 0, as Kafka (KAFKA-17492)
    assert [(f.name, f.min_version, f.max_version) for f in response.supported_features] == supported
    assert [(f.name, f.min_version_level, f.max_version_level) for f in response.finalized_features] == [
        ("transaction.version", 2, 2)
    ]
    assert response.finalized_features_epoch >= 0
    served = {entry.api_key: entry.max_version for entry in response.api_keys}
    assert {key: served[key] for key in (18, 0, 1, 2, 10, 22, 24, 25, 26, 28, 71, 72)} == {
        18: 4,
        0: 12,
        1: 17,
        2: 11,
        10: 6,
        22: 5,
        24: 5,
        25: 4,
        26: 5,
        28: 5,
        71: 0,
        72: 0,
    }


async def test_find_coordinator_v6_share_group_keys_are_invalid_request(broker: Broker) -> None:
    body = FIND_COORDINATOR.Request(key_type=2, coordinator_keys=["share"])
    response = await call(broker, FIND_COORDINATOR, 6, body)
    assert [(c.key, c.error_code, c.node_id) for c in response.coordinators] == [
        ("share", ErrorCode.INVALID_REQUEST, -1)
    ]


async def test_find_coordinator_v6_answers_for_each_key(broker: Broker) -> None:
    body = FIND_COORDINATOR.Request(key_type=0, coordinator_keys=["g1", "g2"])
    response = await call(broker, FIND_COORDINATOR, 6, body)
    assert [(c.key, c.error_code, c.node_id) for c in response.coordinators] == [
        ("g1", ErrorCode.NONE, broker.config.broker_id),
        ("g2", ErrorCode.NONE, broker.config.broker_id),
    ]


# -- Fetch by topic id -------------------------------------------------------------


async def fetch_by_id(broker: Broker, topic_id: Any, version: int = 17) -> Any:
    Topic = FETCH.Request.FetchTopic
    body = FETCH.Request(
        max_wait_ms=0,
        min_bytes=0,
        topics=[
            Topic(
                topic_id=topic_id,
                partitions=[Topic.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)],
            )
        ],
    )
    [topic] = (await call(broker, FETCH, version, body)).responses
    return topic


@pytest.mark.parametrize("version", [13, 15, 16, 17])
async def test_fetch_names_topics_by_id_from_v13(broker: Broker, version: int) -> None:
    created = await create(broker, "t")
    producer = await init(broker, "tx")
    await add_partitions(broker, "tx", producer.producer_id, 0, {"t": [0]})
    await produce(broker, "t", 0, producer.producer_id, 0, 0, [b"a"])
    topic = await fetch_by_id(broker, created.topic_id, version)
    [partition] = topic.partitions
    assert (topic.topic_id, partition.error_code, partition.high_watermark) == (created.topic_id, ErrorCode.NONE, 1)
    assert values(partition.records) == [b"a"]


async def test_fetch_of_an_unknown_topic_id_is_unknown_topic_id(broker: Broker) -> None:
    unknown = uuid4()
    topic = await fetch_by_id(broker, unknown)
    assert (topic.topic_id, [p.error_code for p in topic.partitions]) == (unknown, [ErrorCode.UNKNOWN_TOPIC_ID])


# -- transactions: verification (KIP-890 part 1) --------------------------------------


@pytest.mark.parametrize(
    ("version", "error"), [(9, ErrorCode.INVALID_TXN_STATE), (10, ErrorCode.INVALID_TXN_STATE),
                           (11, ErrorCode.TRANSACTION_ABORTABLE)]
)  # fmt: skip
async def test_a_batch_for_a_partition_not_in_the_transaction_is_refused(
    broker: Broker, version: int, error: ErrorCode
) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    refused = await produce(broker, "t", 0, pid, 0, 0, [b"stray"], version=version)
    assert refused.error_code == error
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.high_watermark, partition.last_stable_offset) == (0, 0)  # nothing appended, nothing stuck
    assert await add_partitions(broker, "tx", pid, 0, {"t": [0]}) == {("t", 0): ErrorCode.NONE}
    accepted = await produce(broker, "t", 0, pid, 0, 0, [b"kept"], version=version)
    assert (accepted.error_code, accepted.base_offset) == (ErrorCode.NONE, 0)


async def test_a_batch_of_an_unknown_transactional_id_is_refused(broker: Broker) -> None:
    await create(broker, "t")
    refused = await produce(broker, "t", 0, 12345, 0, 0, [b"x"], tid="nobody", version=11)
    assert refused.error_code == ErrorCode.TRANSACTION_ABORTABLE


# -- transactions v2 (KIP-890 part 2) ---------------------------------------------------


async def test_produce_v12_adds_the_partition_and_end_txn_v5_bumps_the_epoch(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx", version=5)
    pid = producer.producer_id
    assert (await produce(broker, "t", 0, pid, 0, 0, [b"a"], version=12)).error_code == ErrorCode.NONE
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.partitions) == (ONGOING, (("t", 0),))
    ended = await end_v5(broker, "tx", pid, 0, True)
    assert (ended.error_code, ended.producer_id, ended.producer_epoch) == (ErrorCode.NONE, pid, 1)
    retried = await end_v5(broker, "tx", pid, 0, True)  # the answer was lost: same answer
    assert (retried.error_code, retried.producer_id, retried.producer_epoch) == (ErrorCode.NONE, pid, 1)
    partition = await fetch(broker, "t", 0, READ_COMMITTED)
    assert (partition.last_stable_offset, values(partition.records)) == (2, [b"a"])
    # the old epoch can no longer write, not even into the next transaction
    zombie = await produce(broker, "t", 0, pid, 0, 1, [b"zombie"], version=12)
    assert zombie.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert (await produce(broker, "t", 0, pid, 1, 0, [b"b"], version=12)).error_code == ErrorCode.NONE
    aborted = await end_v5(broker, "tx", pid, 1, False)
    assert (aborted.error_code, aborted.producer_epoch) == (ErrorCode.NONE, 2)
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.producer_epoch) == (COMPLETE_ABORT, 2)


async def test_end_txn_v5_of_an_empty_transaction(broker: Broker) -> None:
    producer = await init(broker, "tx", version=5)
    pid = producer.producer_id
    committed = await end_v5(broker, "tx", pid, 0, True)
    assert (committed.error_code, committed.producer_id, committed.producer_epoch) == (
        ErrorCode.INVALID_TXN_STATE,
        -1,
        -1,
    )
    aborted = await end_v5(broker, "tx", pid, 0, False)  # a client aborting after TRANSACTION_ABORTABLE
    assert (aborted.error_code, aborted.producer_id, aborted.producer_epoch) == (ErrorCode.NONE, pid, 1)
    fenced = await end_v5(broker, "tx", pid, 5, False)
    assert fenced.error_code == ErrorCode.PRODUCER_FENCED


async def test_end_txn_v5_commit_after_add_partitions(broker: Broker) -> None:
    await create(broker, "t")
    producer = await init(broker, "tx")
    pid = producer.producer_id
    await add_partitions(broker, "tx", pid, 0, {"t": [0]})
    await produce(broker, "t", 0, pid, 0, 0, [b"a"])
    ended = await end_v5(broker, "tx", pid, 0, True)
    assert (ended.error_code, ended.producer_epoch) == (ErrorCode.NONE, 1)
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.producer_epoch) == (COMPLETE_COMMIT, 1)


# -- AddPartitionsToTxn v4+ (brokers' form) -----------------------------------------------


async def test_add_partitions_v5_batches_transactions_and_verifies(broker: Broker) -> None:
    await create(broker, "t", partitions=2)
    first = await init(broker, "a")
    second = await init(broker, "b")
    Txn = ADD_PARTITIONS_TO_TXN.Request.AddPartitionsToTxnTransaction

    def txn(tid: str, pid: int, verify_only: bool, partitions: list[int]) -> Any:
        topics = [Txn.AddPartitionsToTxnTopic(name="t", partitions=partitions)]
        return Txn(transactional_id=tid, producer_id=pid, producer_epoch=0, verify_only=verify_only, topics=topics)

    body = ADD_PARTITIONS_TO_TXN.Request(transactions=[txn("a", first.producer_id, False, [0])])
    added = await call(broker, ADD_PARTITIONS_TO_TXN, 5, body)
    assert added.error_code == ErrorCode.NONE
    [result] = added.results_by_transaction
    assert [(r.partition_index, r.partition_error_code) for r in result.topic_results[0].results_by_partition] == [
        (0, ErrorCode.NONE)
    ]
    body = ADD_PARTITIONS_TO_TXN.Request(
        transactions=[txn("a", first.producer_id, True, [0, 1]), txn("b", second.producer_id, True, [0])]
    )
    verified = await call(broker, ADD_PARTITIONS_TO_TXN, 5, body)
    answers = {
        (result.transactional_id, r.partition_index): r.partition_error_code
        for result in verified.results_by_transaction
        for topic in result.topic_results
        for r in topic.results_by_partition
    }
    assert answers == {
        ("a", 0): ErrorCode.NONE,
        ("a", 1): ErrorCode.INVALID_TXN_STATE,
        ("b", 0): ErrorCode.INVALID_TXN_STATE,
    }


# -- client telemetry (KIP-714) ---------------------------------------------------------


async def subscriptions(broker: Broker, instance: UUID = ZERO_UUID) -> Any:
    body = GET_TELEMETRY_SUBSCRIPTIONS.Request(client_instance_id=instance)
    return await call(broker, GET_TELEMETRY_SUBSCRIPTIONS, 0, body)


async def push(broker: Broker, instance: UUID, subscription: int, compression: int = 0, size: int = 10) -> int:
    body = PUSH_TELEMETRY.Request(
        client_instance_id=instance, subscription_id=subscription, compression_type=compression, metrics=b"m" * size
    )
    error: int = (await call(broker, PUSH_TELEMETRY, 0, body)).error_code
    return error


async def test_telemetry_subscribes_to_nothing_by_default(broker: Broker) -> None:
    answer = await subscriptions(broker)
    assert answer.error_code == ErrorCode.NONE
    assert answer.client_instance_id != ZERO_UUID
    assert (answer.requested_metrics, answer.push_interval_ms) == ([], 300_000)
    again = await subscriptions(broker, answer.client_instance_id)
    assert (again.client_instance_id, again.subscription_id) == (answer.client_instance_id, answer.subscription_id)


async def test_telemetry_pushes_are_accepted_counted_and_dropped(tmp_path: Path) -> None:
    async with running_broker(tmp_path, client_telemetry_push_interval_ms=5_000, metrics_port=0) as broker:
        answer = await subscriptions(broker)
        assert (answer.requested_metrics, answer.push_interval_ms, answer.delta_temporality) == ([""], 5_000, True)
        assert answer.accepted_compression_types == [4, 3, 1, 2]
        instance, subscription = answer.client_instance_id, answer.subscription_id
        assert await push(broker, instance, subscription, compression=4) == ErrorCode.NONE
        assert await push(broker, ZERO_UUID, subscription) == ErrorCode.INVALID_REQUEST
        assert await push(broker, instance, subscription + 1) == ErrorCode.UNKNOWN_SUBSCRIPTION_ID
        assert await push(broker, instance, subscription, compression=9) == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        too_large = answer.telemetry_max_bytes + 1
        assert await push(broker, instance, subscription, size=too_large) == ErrorCode.TELEMETRY_TOO_LARGE
        assert broker.metrics is not None
        text = (await broker.metrics.render()).decode()
        assert 'streamhouse_client_telemetry_pushes_total{outcome="none"} 1.0' in text
        assert 'streamhouse_client_telemetry_pushes_total{outcome="unknown_subscription_id"} 1.0' in text
        assert "streamhouse_client_telemetry_bytes_total 10.0" in text


# -- transactional.id.expiration.ms --------------------------------------------------------


async def test_transactional_ids_without_a_transaction_expire(tmp_path: Path) -> None:
    async with running_broker(tmp_path, transactional_id_expiration_ms=50) as broker:
        await create(broker, "t")
        idle = await init(broker, "idle")
        busy = await init(broker, "busy", timeout_ms=60_000)
        await add_partitions(broker, "busy", busy.producer_id, 0, {"t": [0]})
        await asyncio.sleep(0.1)
        await broker.transactions.expire()
        assert await broker.metadata.transactions.get_transaction("idle") is None
        assert await broker.metadata.transactions.get_transaction("busy") is not None  # its transaction is open
        stale = await end_v5(broker, "idle", idle.producer_id, 0, False)
        assert stale.error_code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
        again = await init(broker, "idle")
        assert (again.error_code, again.producer_epoch) == (ErrorCode.NONE, 0)
        assert again.producer_id != idle.producer_id


# -- OffsetFetch require_stable ----------------------------------------------------------------


@pytest.mark.parametrize("version", [7, 8])
async def test_require_stable_answers_unstable_offset_commit_while_a_commit_is_pending(
    broker: Broker, version: int
) -> None:
    await create(broker, "t", partitions=2)
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await add_offsets(broker, "tx", pid, 0, "g") == ErrorCode.NONE
    assert await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 5}) == {("t", 0): ErrorCode.NONE}

    async def offsets(require_stable: bool) -> list[tuple[int, int, int]]:
        if version >= 8:
            Group = OFFSET_FETCH.Request.OffsetFetchRequestGroup
            topics = [Group.OffsetFetchRequestTopics(name="t", partition_indexes=[0, 1])]
            body = OFFSET_FETCH.Request(groups=[Group(group_id="g", topics=topics)], require_stable=require_stable)
            [group] = (await call(broker, OFFSET_FETCH, version, body)).groups
            answered = group.topics
        else:
            Topic = OFFSET_FETCH.Request.OffsetFetchRequestTopic
            topics = [Topic(name="t", partition_indexes=[0, 1])]
            body = OFFSET_FETCH.Request(group_id="g", topics=topics, require_stable=require_stable)
            answered = (await call(broker, OFFSET_FETCH, version, body)).topics
        return [(p.partition_index, p.committed_offset, p.error_code) for t in answered for p in t.partitions]

    assert await offsets(True) == [(0, -1, ErrorCode.UNSTABLE_OFFSET_COMMIT), (1, -1, ErrorCode.NONE)]
    assert await offsets(False) == [(0, -1, ErrorCode.NONE), (1, -1, ErrorCode.NONE)]
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.NONE
    assert await offsets(True) == [(0, 5, ErrorCode.NONE), (1, -1, ErrorCode.NONE)]


# -- authorizer (issue 28's ACLs): the new APIs check as Kafka does ---------------------------


async def test_brokers_form_of_add_partitions_needs_cluster_action_and_telemetry_needs_nothing(
    tmp_path: Path,
) -> None:
    async with running_broker(tmp_path, authorizer="acl", super_users="User:admin") as broker:
        Txn = ADD_PARTITIONS_TO_TXN.Request.AddPartitionsToTxnTransaction
        body = ADD_PARTITIONS_TO_TXN.Request(
            transactions=[Txn(transactional_id="tx", producer_id=1, producer_epoch=0, verify_only=True, topics=[])]
        )
        refused = await call(broker, ADD_PARTITIONS_TO_TXN, 5, body, ALICE)
        assert (refused.error_code, refused.results_by_transaction) == (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, [])
        await grant(broker, CLUSTER, "kafka-cluster", Operation.CLUSTER_ACTION)
        allowed = await call(broker, ADD_PARTITIONS_TO_TXN, 5, body, ALICE)
        assert (allowed.error_code, [r.transactional_id for r in allowed.results_by_transaction]) == (0, ["tx"])
        # KIP-714's APIs are not authorized (Kafka's KafkaApis checks nothing for them)
        answer = await call(broker, GET_TELEMETRY_SUBSCRIPTIONS, 0, GET_TELEMETRY_SUBSCRIPTIONS.Request(), ALICE)
        assert answer.error_code == ErrorCode.NONE
        body = PUSH_TELEMETRY.Request(
            client_instance_id=answer.client_instance_id, subscription_id=answer.subscription_id, metrics=b""
        )
        assert (await call(broker, PUSH_TELEMETRY, 0, body, ALICE)).error_code == ErrorCode.NONE
        assert broker.authorizer.denials == {("cluster_action", "cluster"): 1}


@pytest.mark.parametrize(
    ("version", "error"), [(3, ErrorCode.INVALID_TXN_STATE), (4, ErrorCode.TRANSACTION_ABORTABLE), (5, ErrorCode.NONE)]
)
async def test_txn_offset_commit_v5_adds_the_group_itself(broker: Broker, version: int, error: ErrorCode) -> None:
    """Transactions v2 send no AddOffsetsToTxn: TxnOffsetCommit v5 puts the group in the transaction;
    before v5 a group not added is refused, TRANSACTION_ABORTABLE from v4."""
    await create(broker, "t")
    producer = await init(broker, "tx", version=5)
    pid = producer.producer_id
    answered = await txn_commit_offsets(broker, "tx", pid, 0, "g", {("t", 0): 3}, version=version)
    assert answered == {("t", 0): error}
    if error:
        return
    record = await broker.metadata.transactions.get_transaction("tx")
    assert record is not None and (record.state, record.groups) == (ONGOING, ("g",))
    ended = await end_v5(broker, "tx", pid, 0, True)
    assert (ended.error_code, ended.producer_epoch) == (ErrorCode.NONE, 1)
    assert [(o.topic, o.partition, o.offset) for o in await broker.metadata.groups.fetch_offsets("g")] == [("t", 0, 3)]


async def test_a_partition_of_the_previous_transaction_must_be_added_again(broker: Broker) -> None:
    """The coordinator's memory of ongoing transactions (which spares the produce path its metadata
    reads) forgets a transaction when it ends: the next one's partitions are verified anew."""
    await create(broker, "t", partitions=2)
    producer = await init(broker, "tx")
    pid = producer.producer_id
    assert await add_partitions(broker, "tx", pid, 0, {"t": [0]}) == {("t", 0): ErrorCode.NONE}
    assert broker.transactions.known_in_transaction("tx", pid, 0, [("t", 0)])
    assert (await produce(broker, "t", 0, pid, 0, 0, [b"first"], version=11)).error_code == ErrorCode.NONE
    assert await end(broker, "tx", pid, 0, True) == ErrorCode.NONE
    assert not broker.transactions.known_in_transaction("tx", pid, 0, [("t", 0)])
    assert await add_partitions(broker, "tx", pid, 0, {"t": [1]}) == {("t", 1): ErrorCode.NONE}
    stray = await produce(broker, "t", 0, pid, 0, 1, [b"stray"], version=11)
    assert stray.error_code == ErrorCode.TRANSACTION_ABORTABLE
    assert (await produce(broker, "t", 1, pid, 0, 0, [b"second"], version=11)).error_code == ErrorCode.NONE
    broker.transactions.owns = lambda transactional_id: False  # another broker coordinates it now
    assert not broker.transactions.known_in_transaction("tx", pid, 0, [("t", 1)])


async def test_fetch_by_id_needs_read_and_an_unknown_id_is_unknown_topic_id(tmp_path: Path) -> None:
    async with running_broker(tmp_path, authorizer="acl", super_users="User:admin") as broker:
        answer = await send(broker, CREATE_TOPICS, ADMIN, topics=[creatable("orders")], timeout_ms=5000)
        [created] = answer.topics
        Topic = FETCH.Request.FetchTopic
        partition = Topic.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)
        body = FETCH.Request(
            max_wait_ms=0,
            min_bytes=0,
            topics=[Topic(topic_id=topic_id, partitions=[partition]) for topic_id in (created.topic_id, uuid4())],
        )
        refused = await call(broker, FETCH, 17, body, ALICE)
        assert [t.partitions[0].error_code for t in refused.responses] == [
            ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            ErrorCode.UNKNOWN_TOPIC_ID,
        ]
        await grant(broker, TOPIC, "orders", Operation.READ)
        allowed = await call(broker, FETCH, 17, body, ALICE)
        assert [t.partitions[0].error_code for t in allowed.responses] == [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_ID]
