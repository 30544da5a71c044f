"""Transactions through confluent-kafka (librdkafka): transactional producers, read_committed consumers.

A producer commits, aborts and commits again, sending its consumer group's offsets with each
transaction: a read_committed consumer sees exactly the committed records, a read_uncommitted
one every data record (never a marker: clients drop control batches), and the group's committed
offset is the one of the committed transaction. The same on PostgreSQL metadata with S3 objects.
A producer killed in the middle of a transaction holds back read_committed consumers (the last
stable offset stays at its first offset) until its transaction times out and the coordinator
aborts it. Two brokers over one PostgreSQL: one coordinates the transaction (writes the markers), the
other leads the partition (takes the records, serves the read_committed consumer) and learns of
the markers through the store's change notifications. kafka-python's admin client describes
and lists transactions (DescribeTransactions, ListTransactions).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.cluster import partition_key, rendezvous, transaction_key
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from tests.brokerproc import BrokerProcess
from tests.e2e.groups import wait_for
from tests.e2e.test_scale_out import BROKER_IDS, start_cluster
from tests.wireclient import WireClient

TIMEOUT_S = 30.0
EXPIRY_INTERVAL_MS = 500


@pytest.fixture
def txn_broker(backend: list[str], tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        tmp_path / "broker",
        [*backend, "--num-partitions", "1", "--transaction-expiry-interval-ms", str(EXPIRY_INTERVAL_MS)],
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def transactional_producer(bootstrap: str, transactional_id: str, **config: Any) -> Any:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, **config})
    producer.init_transactions(TIMEOUT_S)
    return producer


def consume_all(bootstrap: str, topic: str, isolation: str, expected: int, timeout: float = TIMEOUT_S) -> list[bytes]:
    """Values read from the start of partition 0 until `expected` arrived and nothing more came for 2 s."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",  # required by the client; assign() uses no group
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            messages = consumer.consume(100, 0.5)
            for message in messages:
                assert message.error() is None, message.error()
                values.append(message.value())
            if messages:
                quiet_since = time.monotonic()
            elif len(values) >= expected and time.monotonic() - quiet_since > 2:
                break
    finally:
        consumer.close()
    return values


def latest_offsets(bootstrap: str, topic: str) -> tuple[int, int]:
    """ListOffsets latest of partition 0: (read_uncommitted: the high watermark, read_committed: the LSO)."""
    Topic = LIST_OFFSETS.Request.ListOffsetsTopic
    found = []
    with WireClient(bootstrap) as client:
        for isolation in (0, 1):
            body = LIST_OFFSETS.Request(
                replica_id=-1,
                isolation_level=isolation,
                topics=[Topic(name=topic, partitions=[Topic.ListOffsetsPartition(partition_index=0, timestamp=-1)])],
            )
            _, answer = client.call(LIST_OFFSETS, body)
            found.append(answer.topics[0].partitions[0].offset)
    return found[0], found[1]


def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [position] = consumer.committed([TopicPartition(topic, 0)], TIMEOUT_S)
        offset: int = position.offset
        return offset
    finally:
        consumer.close()


def run_transactions(bootstrap: str, topic: str, transactional_id: str, group: str) -> None:
    """Commit a, b; abort x, y; commit c, each with the group's offsets (2, 99, 3)."""
    from confluent_kafka import Consumer, TopicPartition

    group_member = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    producer = transactional_producer(bootstrap, transactional_id)
    try:
        for values, offset, commit in (([b"a", b"b"], 2, True), ([b"x", b"y"], 99, False), ([b"c"], 3, True)):
            producer.begin_transaction()
            for value in values:
                producer.produce(topic, value=value, partition=0)
            producer.send_offsets_to_transaction(
                [TopicPartition(topic, 0, offset)], group_member.consumer_group_metadata(), TIMEOUT_S
            )
            if commit:
                producer.commit_transaction(TIMEOUT_S)
            else:
                producer.flush(TIMEOUT_S)
                producer.abort_transaction(TIMEOUT_S)
    finally:
        group_member.close()


@pytest.mark.parametrize("backend", ["default", "postgresql-s3"], indirect=True)
def test_commit_and_abort(txn_broker: BrokerProcess) -> None:
    bootstrap = txn_broker.bootstrap
    run_transactions(bootstrap, "orders", "orders-tx", "orders-group")
    assert consume_all(bootstrap, "orders", "read_committed", 3) == [b"a", b"b", b"c"]
    assert consume_all(bootstrap, "orders", "read_uncommitted", 5) == [b"a", b"b", b"x", b"y", b"c"]
    assert committed_offset(bootstrap, "orders-group", "orders") == 3


KILLED_PRODUCER = """
import sys, time
from confluent_kafka import Producer
producer = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": sys.argv[2],
                     "transaction.timeout.ms": 15000})
producer.init_transactions(30)
producer.begin_transaction()
producer.produce(sys.argv[3], value=b"doomed", partition=0)
producer.flush(30)
print("produced", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("backend", ["default"], indirect=True)
def test_a_killed_producers_transaction_times_out(txn_broker: BrokerProcess) -> None:
    bootstrap = txn_broker.bootstrap
    script = textwrap.dedent(KILLED_PRODUCER)
    doomed = subprocess.Popen(
        [sys.executable, "-c", script, bootstrap, "doomed-tx", "events"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "produced"
    finally:
        doomed.kill()
        doomed.wait()
    producer = transactional_producer(bootstrap, "survivor-tx")
    producer.begin_transaction()
    producer.produce("events", value=b"kept", partition=0)
    producer.commit_transaction(TIMEOUT_S)
    # doomed at 0, kept at 1, its marker at 2: the open transaction holds the last stable offset at 0
    # until the coordinator aborts it, 15 s after it began.
    assert latest_offsets(bootstrap, "events") == (3, 0)
    assert consume_all(bootstrap, "events", "read_committed", 1, timeout=60.0) == [b"kept"]
    assert latest_offsets(bootstrap, "events") == (4, 4)  # the abort marker at 3
    assert consume_all(bootstrap, "events", "read_uncommitted", 2) == [b"doomed", b"kept"]
    # A new instance of the killed producer starts cleanly.
    transactional_producer(bootstrap, "doomed-tx").flush(TIMEOUT_S)


def test_two_brokers_over_one_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    brokers = start_cluster(request, tmp_path)
    by_id = dict(zip(BROKER_IDS, brokers, strict=True))
    # Broker 2 coordinates the transaction (and writes the markers); broker 1 leads the partition
    # (takes the records and serves the consumers), so it learns of the markers from the store.
    transactional_id = next(f"tx-{n}" for n in range(100) if rendezvous(transaction_key(f"tx-{n}"), BROKER_IDS) == 2)
    topic = next(f"shared-{n}" for n in range(100) if rendezvous(partition_key(f"shared-{n}", 0), BROKER_IDS) == 1)
    producer = transactional_producer(by_id[1].bootstrap, transactional_id)
    producer.begin_transaction()
    producer.produce(topic, value=b"first", partition=0)
    producer.flush(TIMEOUT_S)
    assert latest_offsets(by_id[1].bootstrap, topic) == (1, 0)  # broker 1 now holds the open transaction
    producer.commit_transaction(TIMEOUT_S)
    wait_for(lambda: latest_offsets(by_id[1].bootstrap, topic) == (2, 2), "broker 1 to hear of the commit marker")
    run_transactions(by_id[1].bootstrap, topic, transactional_id, "shared-group")
    assert consume_all(by_id[2].bootstrap, topic, "read_committed", 4) == [b"first", b"a", b"b", b"c"]
    assert latest_offsets(by_id[1].bootstrap, topic) == latest_offsets(by_id[2].bootstrap, topic) == (10, 10)
    assert committed_offset(by_id[2].bootstrap, "shared-group", topic) == 3
    for broker in brokers:
        assert broker.stop() == 0, broker.log_text()[-4000:]


@pytest.mark.parametrize("backend", ["default"], indirect=True)
def test_kafka_python_admin_describes_and_lists_transactions(txn_broker: BrokerProcess) -> None:
    from kafka import KafkaAdminClient, TopicPartition

    bootstrap = txn_broker.bootstrap
    producer = transactional_producer(bootstrap, "admin-tx")
    producer.begin_transaction()
    producer.produce("watched", value=b"v", partition=0)
    producer.flush(TIMEOUT_S)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        ongoing = admin.describe_transactions(["admin-tx"])["admin-tx"]
        assert (ongoing.state, ongoing.producer_epoch) == ("Ongoing", 0)
        assert ongoing.topic_partitions == {TopicPartition("watched", 0)}
        [listing] = [row for rows in admin.list_transactions().values() for row in rows]
        assert (listing.transactional_id, listing.producer_id, listing.state) == (
            "admin-tx",
            ongoing.producer_id,
            "Ongoing",
        )
        producer.commit_transaction(TIMEOUT_S)
        committed = admin.describe_transactions(["admin-tx"])["admin-tx"]
        assert (committed.state, committed.topic_partitions) == ("CompleteCommit", set())
    finally:
        admin.close()
