"""Brokers on PostgreSQL metadata: two brokers sharing one database and one storage folder, and a
broker riding out a PostgreSQL outage.

Raw produce requests (tests/wireclient.py) go to each broker, so both brokers write the same
partition whatever Metadata says; stock clients then read everything back from either broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch, iter_batches, iter_records
from tests.brokerproc import BrokerProcess
from tests.e2e.test_features import http_get
from tests.pgserver import PgServer
from tests.wireclient import WireClient, produce_body

TOPIC = "shared"
MAX_WAIT_MS = 20_000


def broker_on(dsn: str, folder: Path, broker_id: int) -> BrokerProcess:
    args = ["--metadata", dsn, "--storage", str(folder / "objects"), "--broker-id", str(broker_id)]
    return BrokerProcess(folder / f"broker-{broker_id}", args).start()


@pytest.fixture
def two_brokers(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[BrokerProcess, BrokerProcess]]:
    first, second = broker_on(pg_dsn, tmp_path, 1), broker_on(pg_dsn, tmp_path, 2)
    yield first, second
    for broker in (first, second):
        assert broker.stop() == 0, broker.log_text()[-4000:]


def produce(client: WireClient, values: list[bytes], topic: str = TOPIC) -> Any:
    """One acks=all Produce v9 of one batch holding `values`; the partition's response."""
    body = produce_body(topic, build_batch([Record(key=None, value=value) for value in values]))
    return client.request(PRODUCE, 9, body).responses[0].partition_responses[0]


def fetch(client: WireClient, offset: int, max_wait_ms: int = 0) -> Any:
    """One Fetch v12 of partition 0 from `offset`; the partition's response."""
    topic = FETCH.Request.FetchTopic
    wanted = topic.FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 24)
    body = FETCH.Request(
        max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 24, topics=[topic(topic=TOPIC, partitions=[wanted])]
    )
    return client.request(FETCH, 12, body).responses[0].partitions[0]


def records_of(partition: Any) -> list[tuple[int, bytes | None]]:
    found = []
    for header, view in iter_batches(partition.records):
        found += [(header.base_offset + r.offset_delta, r.value) for r in iter_records(header, bytes(view))]
    return found


def read_all(bootstrap: str, count: int) -> list[tuple[int, bytes | None]]:
    """The first `count` records of partition 0, by raw fetches.

    A broker learns of the other broker's last commits a moment after they were acknowledged
    (a notification), so fetches go on until all are there.
    """
    found: list[tuple[int, bytes | None]] = []
    deadline = time.monotonic() + 60
    with WireClient(bootstrap, timeout=30) as client:
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} records after 60 s"
            partition = fetch(client, len(found), max_wait_ms=500)
            assert partition.error_code == ErrorCode.NONE
            found += [record for record in records_of(partition) if record[0] >= len(found)]
    return found


def confluent_read(bootstrap: str, count: int) -> list[tuple[int, bytes | None]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    found: list[tuple[int, bytes | None]] = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < count and time.monotonic() < deadline:
            for message in consumer.consume(1000, 1.0):
                assert message.error() is None, message.error()
                found.append((message.offset(), message.value()))
    finally:
        consumer.close()
    return found


def test_two_brokers_append_to_one_partition_exactly_once_in_order(
    two_brokers: tuple[BrokerProcess, BrokerProcess],
) -> None:
    writers = [(broker, f"{broker.port}-{n}") for broker in two_brokers for n in range(2)]

    def write(broker: BrokerProcess, name: str) -> list[int]:
        bases = []
        with WireClient(broker.bootstrap, timeout=30) as client:
            for request in range(40):
                response = produce(client, [f"{name}-{request}-{k}".encode() for k in range(5)])
                assert response.error_code == ErrorCode.NONE, response
                bases.append(response.base_offset)
        return bases

    with WireClient(two_brokers[0].bootstrap) as client:
        assert produce(client, [b"first"]).base_offset == 0  # creates the topic
    with ThreadPoolExecutor(len(writers)) as pool:
        bases = list(pool.map(lambda writer: write(*writer), writers))
    for writer_bases in bases:
        assert writer_bases == sorted(writer_bases)  # each writer's requests in its own order
    all_bases = sorted(base for writer_bases in bases for base in writer_bases)
    assert all_bases == list(range(1, 1 + 5 * len(all_bases), 5))  # disjoint, no gaps

    expected_values = {b"first"} | {
        f"{name}-{r}-{k}".encode() for _, name in writers for r in range(40) for k in range(5)
    }
    for broker in two_brokers:
        found = read_all(broker.bootstrap, len(expected_values))
        assert [offset for offset, _ in found] == list(range(len(expected_values)))
        assert sorted(value for _, value in found if value is not None) == sorted(expected_values)
        assert confluent_read(broker.bootstrap, len(found)) == found  # a stock client on this broker


def test_a_long_poll_on_one_broker_wakes_when_the_other_commits(
    two_brokers: tuple[BrokerProcess, BrokerProcess],
) -> None:
    first, second = two_brokers
    with WireClient(first.bootstrap) as client:
        assert produce(client, [b"before"]).error_code == ErrorCode.NONE
    answered: list[tuple[float, Any]] = []

    def long_poll() -> None:
        with WireClient(second.bootstrap, timeout=60) as client:
            started = time.monotonic()
            partition = fetch(client, 1, max_wait_ms=MAX_WAIT_MS)
            answered.append((time.monotonic() - started, partition))

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(1.0)  # the fetch is parked on the second broker by now
    assert not answered
    with WireClient(first.bootstrap) as client:
        assert produce(client, [b"wake up"]).base_offset == 1
    poller.join(60)
    waited, partition = answered[0]
    assert records_of(partition) == [(1, b"wake up")]
    assert waited < MAX_WAIT_MS / 1000 / 2, f"woke after {waited:.1f} s of a {MAX_WAIT_MS / 1000:.0f} s wait"


def commit_offset(client: WireClient, group: str, offset: int) -> int:
    """OffsetCommit v8 of partition 0 for a group that only commits; the partition's error code."""
    topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    wanted = topic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=offset, committed_leader_epoch=-1, committed_metadata=None
    )
    body = OFFSET_COMMIT.Request(group_id=group, topics=[topic(name=TOPIC, partitions=[wanted])])
    error_code: int = client.request(OFFSET_COMMIT, 8, body).topics[0].partitions[0].error_code
    return error_code


def wait_for_ready(broker: BrokerProcess, status: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answered, body = http_get(broker, "/ready")
        if answered == status:
            return body
        assert time.monotonic() < deadline, f"/ready stayed {answered} {body}"
        time.sleep(0.2)


OUTAGE_SECONDS = 10.0


def test_a_postgres_outage_loses_nothing_and_the_broker_recovers_by_itself(
    own_pg_server: PgServer, tmp_path: Path
) -> None:
    """An idempotent confluent-kafka producer keeps producing through 10 s without PostgreSQL."""
    from confluent_kafka import Producer

    broker = broker_on(own_pg_server.dsn(), tmp_path, 1)
    pid = broker.process.pid if broker.process else None
    failures: list[object] = []
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    stop = threading.Event()
    sent: list[bytes] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            failures.append(error)

    def produce_loop() -> None:
        while not stop.is_set():
            value = f"record-{len(sent)}".encode()
            producer.produce(TOPIC, value=value, partition=0, on_delivery=delivered)
            sent.append(value)
            producer.poll(0)
            time.sleep(0.01)

    loop = threading.Thread(target=produce_loop)
    loop.start()
    try:
        time.sleep(3.0)
        with WireClient(broker.bootstrap, timeout=30) as client:
            assert commit_offset(client, "g", 1) == ErrorCode.NONE
            before = read_all(broker.bootstrap, 1)
            own_pg_server.halt()
            halted_at = time.monotonic()
            body = wait_for_ready(broker, 503)
            assert list(body["reasons"]) == ["metadata"], body
            assert commit_offset(client, "g", 2) == ErrorCode.COORDINATOR_NOT_AVAILABLE
            during = fetch(client, 0)  # committed records still come, from the caches
            assert during.error_code == ErrorCode.NONE
            assert records_of(during)[: len(before)] == before
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - halted_at)))
            assert http_get(broker, "/ready")[0] == 503
            own_pg_server.resume()
            assert wait_for_ready(broker, 200) == {"status": "ready", "broker_id": 1}
            time.sleep(2.0)  # producing goes on after the outage too
        stop.set()
        loop.join(30)
        assert producer.flush(120) == 0, "records still unacknowledged two minutes after the outage"
        assert not failures, failures[:3]
        with WireClient(broker.bootstrap, timeout=30) as client:
            assert commit_offset(client, "g", 3) == ErrorCode.NONE
        found = confluent_read(broker.bootstrap, len(sent))
        assert [value for _, value in found] == sent  # all of them, in order, none twice
        assert [offset for offset, _ in found] == list(range(len(sent)))
        assert broker.process is not None and broker.process.poll() is None and broker.process.pid == pid
        assert "batches failed" in broker.log_text()  # produce requests did meet the outage, and were refused
    finally:
        stop.set()
        loop.join(30)
        assert broker.stop() == 0, broker.log_text()[-4000:]


def test_admin_requests_during_a_postgres_outage_get_kafka_storage_error_and_keep_the_connection(
    own_pg_server: PgServer, tmp_path: Path
) -> None:
    """CreateTopics and DeleteTopics need the store: 56 (retriable) per topic, as Produce answers; the
    connection stays open (these requests used to close it as an internal error)."""
    broker = broker_on(own_pg_server.dsn(), tmp_path, 1)
    creatable = CREATE_TOPICS.Request.CreatableTopic
    try:
        with WireClient(broker.bootstrap, timeout=60) as client:
            existing = creatable(name="outage-old", num_partitions=1, replication_factor=1, assignments=[], configs=[])
            assert (
                client.request(CREATE_TOPICS, 5, CREATE_TOPICS.Request(topics=[existing], timeout_ms=30_000))
                .topics[0]
                .error_code
                == ErrorCode.NONE
            )
            own_pg_server.halt()
            wait_for_ready(broker, 503)
            fresh = creatable(name="outage-new", num_partitions=1, replication_factor=1, assignments=[], configs=[])
            created = client.request(CREATE_TOPICS, 5, CREATE_TOPICS.Request(topics=[fresh], timeout_ms=30_000))
            assert created.topics[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR, created
            deleted = client.request(
                DELETE_TOPICS, 4, DELETE_TOPICS.Request(topic_names=["outage-old"], timeout_ms=30_000)
            )
            assert deleted.responses[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR, deleted
            resource = DESCRIBE_CONFIGS.Request.DescribeConfigsResource(
                resource_type=2, resource_name="outage-unseen", configuration_keys=None
            )
            described = client.request(DESCRIBE_CONFIGS, 4, DESCRIBE_CONFIGS.Request(resources=[resource]))
            assert described.results[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR, described
            assert client.request(API_VERSIONS, 3, API_VERSIONS.Request()).error_code == ErrorCode.NONE
            own_pg_server.resume()
            wait_for_ready(broker, 200)
            deleted = client.request(
                DELETE_TOPICS, 4, DELETE_TOPICS.Request(topic_names=["outage-old"], timeout_ms=30_000)
            )
            assert deleted.responses[0].error_code == ErrorCode.NONE, deleted
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
