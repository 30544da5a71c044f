"""Background maintenance seen from outside: compaction of flush objects into segments, retention, garbage.

Each test runs its own broker with a short --compaction-interval-ms, so that the objects under
its data folder belong to the test's topic alone; it watches that folder while stock clients
produce and consume.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.clients import confluent_consume, kafka_python_consume
from tests.e2e.dataset import PARTITIONS, Sent, records

INTERVAL_MS = 300
TIMEOUT = 15.0
HOUR_MS = 3_600_000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        tmp_path / "broker",
        ["--compaction-interval-ms", str(INTERVAL_MS), "--num-partitions", str(PARTITIONS), "--fsync", "never"],
    ).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


# -- helpers --------------------------------------------------------------------------


def objects_dir(broker: BrokerProcess) -> Path:
    return broker.data_dir / "objects"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def produce_in_flushes(broker: BrokerProcess, topic: str, chunks: list[list[tuple[Sent, int]]]) -> None:
    """Each chunk of (record, timestamp) delivered before the next is sent: one produce request (and flush) each."""
    from confluent_kafka import Producer

    failures: list[Any] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    for chunk in chunks:
        for item, timestamp in chunk:
            producer.produce(
                topic,
                value=item.value,
                key=item.key,
                partition=item.partition,
                headers=list(item.headers),
                timestamp=timestamp,
                on_delivery=lambda error, _: error is None or failures.append(error),
            )
        assert producer.flush(TIMEOUT) == 0
    assert not failures, failures[:3]


def create_topic(broker: BrokerProcess, topic: str, partitions: int, config: dict[str, str] | None = None) -> str:
    """Create a topic; returns its id as the object store spells it."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=config or {})])
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    return str(described["topic_id"])


def watermarks(broker: BrokerProcess, topic: str, partition: int = 0) -> tuple[int, int]:
    """(earliest, latest) offsets: ListOffsets -2 and -1."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), TIMEOUT)
    finally:
        consumer.close()
    return int(low), int(high)


def read_partition(broker: BrokerProcess, topic: str, count: int, partition: int = 0) -> list[tuple[int, bytes]]:
    """(offset, value) of `count` records read from the beginning of one partition."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    received: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(received) < count and time.monotonic() < deadline:
            for message in consumer.consume(count, 0.5):
                assert message.error() is None, message.error()
                received.append((message.offset(), bytes(message.value())))
    finally:
        consumer.close()
    return received


def assert_same(sent: list[Sent], received: list[Any]) -> None:
    """Per partition: the records sent, in order, at offsets 0, 1, 2, ..."""
    for partition in range(PARTITIONS):
        expected = [item for item in sent if item.partition == partition]
        actual = [item for item in received if item.partition == partition]
        assert [item.offset for item in actual] == list(range(len(expected))), f"partition {partition} offsets"
        assert [item.as_sent() for item in actual] == expected, f"partition {partition} records"


# -- compaction ------------------------------------------------------------------------------


def test_flush_objects_are_rewritten_into_segments_and_read_back_unchanged(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, TopicPartition

    topic = "compacted-into-segments"
    topic_id = create_topic(broker, topic, PARTITIONS)
    sent = records(900, seed=11)
    t0 = now_ms() - HOUR_MS
    stamped = [(item, t0 + 10 * index) for index, item in enumerate(sent)]
    produce_in_flushes(broker, topic, [stamped[start : start + 30] for start in range(0, len(stamped), 30)])
    assert broker.stored_objects("flush/"), "the produce requests wrote no flush objects"
    assert not list((objects_dir(broker) / "flush").rglob("*.obj")), "flush objects are packed, not files"

    segments = objects_dir(broker) / "topics" / topic_id
    wait_until(
        lambda: (
            not broker.stored_objects("flush/")
            and all(list((segments / str(partition)).glob("*.segment")) for partition in range(PARTITIONS))
        ),
        "every flush object is rewritten into segments of each partition and deleted",
    )
    stored = broker.stored_objects()
    assert {key.split("/")[1] for key in stored} == {topic_id}, stored
    assert all(key.endswith(".segment") for key in stored), stored
    # Fewer, larger objects: one segment holds what many flushes wrote.
    assert len(stored) < 900 // 30

    assert_same(sent, confluent_consume(broker.bootstrap, topic, len(sent)))
    # A restarted broker has no caches: it reads the segments themselves.
    assert broker.restart(signal.SIGTERM) == 0
    assert_same(sent, kafka_python_consume(broker.bootstrap, topic, len(sent)))

    # Time look-ups over index rows that now span many batches.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        for partition in range(PARTITIONS):
            stamps = [stamp for item, stamp in stamped if item.partition == partition]
            for offset in (0, 1, len(stamps) // 2, len(stamps) - 1):
                [found] = consumer.offsets_for_times([TopicPartition(topic, partition, stamps[offset] - 1)], TIMEOUT)
                assert found.offset == offset, (partition, offset)
            [after] = consumer.offsets_for_times([TopicPartition(topic, partition, stamps[-1] + 1)], TIMEOUT)
            assert after.offset == -1
            assert consumer.get_watermark_offsets(TopicPartition(topic, partition), TIMEOUT) == (0, len(stamps))
    finally:
        consumer.close()


# -- retention ---------------------------------------------------------------------------------


def test_retention_ms_drops_old_records_and_their_objects(broker: BrokerProcess) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.admin import ConfigResource

    topic = "retention-ms"
    create_topic(broker, topic, 1)
    old = now_ms() - HOUR_MS
    sent = [Sent(0, None, b"old-%d" % index) for index in range(30)]
    produce_in_flushes(
        broker, topic, [[(item, old + index) for index, item in enumerate(sent[i : i + 5])] for i in range(0, 30, 5)]
    )
    assert watermarks(broker, topic) == (0, 30)
    assert broker.stored_objects()

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        result = admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": str(10 * 60 * 1000)})])
    finally:
        admin.close()
    assert result == {"topic": {topic: "OK"}}
    wait_until(lambda: watermarks(broker, topic) == (30, 30), "retention moves the log start past the old records")
    wait_until(lambda: not broker.stored_objects(), "the objects of the dropped records are deleted")

    # Records within retention stay, at the offsets after the dropped ones.
    fresh = [Sent(0, None, b"new-%d" % index) for index in range(5)]
    produce_in_flushes(broker, topic, [[(item, now_ms()) for item in fresh]])
    wait_until(
        lambda: not broker.stored_objects("flush/") and bool(broker.stored_objects("topics/")),
        "a maintenance pass (retention, then compaction) went over the new records",
    )
    assert watermarks(broker, topic) == (30, 35)
    assert read_partition(broker, topic, 5) == [(30 + index, item.value) for index, item in enumerate(fresh)]
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        partition = TopicPartition(topic, 0)
        assert consumer.beginning_offsets([partition]) == {partition: 30}
        assert consumer.end_offsets([partition]) == {partition: 35}
    finally:
        consumer.close()


def test_retention_does_not_apply_to_a_compacted_topic(broker: BrokerProcess) -> None:
    topic = "retention-compacted"
    config = {"cleanup.policy": "compact", "retention.ms": str(10 * 60 * 1000), "retention.bytes": "1"}
    topic_id = create_topic(broker, topic, 1, config)
    old = now_ms() - HOUR_MS
    sent = [Sent(0, b"key-%d" % index, b"old-%d" % index) for index in range(10)]
    produce_in_flushes(broker, topic, [[(item, old + index) for index, item in enumerate(sent)]])
    wait_until(
        lambda: bool(broker.stored_objects(f"topics/{topic_id}/")),
        "a maintenance pass (retention, then compaction) went over the records",
    )
    # Kafka's rule: cleanup.policy=compact alone keeps records whatever their age or the log's size.
    assert watermarks(broker, topic) == (0, 10)
    assert read_partition(broker, topic, 10) == [(index, item.value) for index, item in enumerate(sent)]


def test_retention_bytes_keeps_the_newest_batches_within_the_limit(broker: BrokerProcess) -> None:
    topic = "retention-bytes"
    limit = 3000
    create_topic(broker, topic, 1, {"retention.bytes": str(limit)})
    # Ten produce requests of one ~1,070-byte batch each: at most two batches fit in the limit.
    sent = [Sent(0, None, bytes([65 + index]) * 1000) for index in range(10)]
    produce_in_flushes(broker, topic, [[(item, now_ms())] for item in sent])

    def settled() -> bool:
        stored = broker.stored_objects()
        return not broker.stored_objects("flush/") and 0 < sum(stored.values()) <= limit

    wait_until(settled, "retention keeps at most retention.bytes of objects, compacted into segments")
    earliest, latest = watermarks(broker, topic)
    assert latest == 10
    # Two batches fit; one when the previous two were compacted into one segment before the last arrived.
    assert earliest in (8, 9), earliest
    expected = [(offset, sent[offset].value) for offset in range(earliest, 10)]
    assert read_partition(broker, topic, 10 - earliest) == expected
