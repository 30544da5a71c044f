"""Broker features through stock clients against `streamhouse serve` subprocesses.

Auto-creation of topics (and its refusal), ListOffsets (earliest, latest, by time),
DeleteRecords, CreatePartitions, LogAppendTime topics, compacted topics (keys required),
the HTTP /health and /ready endpoints, and a SIGINT shutdown that answers in-flight produce requests.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess

TIMEOUT = 15.0
PARTITIONS = 3  # the shared broker's --num-partitions
# Record timestamps (ms) of the ListOffsets tests: an hour ago, well within the default retention.ms
# (7 days), so that a maintenance pass cannot drop them during the tests.
T0 = (time.time_ns() // 1_000_000 - 3_600_000) // 1000 * 1000


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for the module, auto-creating topics with PARTITIONS partitions."""
    process = BrokerProcess(tmp_path_factory.mktemp("features"), ["--num-partitions", str(PARTITIONS)]).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture(scope="module")
def closed_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker that does not auto-create topics."""
    process = BrokerProcess(tmp_path_factory.mktemp("no-auto-create"), ["--auto-create-topics", "false"]).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


# -- helpers -------------------------------------------------------------------------


def confluent_admin(broker: BrokerProcess) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": broker.bootstrap})


def confluent_result(future: Any) -> Any:
    """A future's result, or the KafkaError it failed with."""
    from confluent_kafka import KafkaException

    try:
        return future.result(TIMEOUT)
    except KafkaException as exc:
        return exc.args[0]


def create_topic(broker: BrokerProcess, topic: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import NewTopic

    admin = confluent_admin(broker)  # keep it alive until the future is done
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])
    assert confluent_result(futures[topic]) is None


def confluent_producer(broker: BrokerProcess, **extra: Any) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", **extra})


def produce_batches(
    broker: BrokerProcess, topic: str, batches: list[list[tuple[bytes, int]]], partition: int = 0
) -> list[Any]:
    """Each inner list as one produce request (linger lets its records share a batch); returns the delivered."""
    delivered: list[Any] = []
    failures: list[Any] = []

    def report(error: Any, message: Any) -> None:
        (failures if error is not None else delivered).append(error or message)

    producer = confluent_producer(broker, **{"linger.ms": 100})
    for batch in batches:
        for value, timestamp in batch:
            producer.produce(topic, value, partition=partition, timestamp=timestamp, on_delivery=report)
        assert producer.flush(TIMEOUT) == 0
    assert not failures, failures
    return delivered


def confluent_consumer(broker: BrokerProcess, **extra: Any) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "unused",  # required by the client; assign() uses no group
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            **extra,
        }
    )


def confluent_read(broker: BrokerProcess, topic: str, partition: int, offset: int, count: int, **extra: Any) -> list:
    """`count` messages of one partition read from `offset` (a number or OFFSET_BEGINNING/END)."""
    from confluent_kafka import TopicPartition

    consumer = confluent_consumer(broker, **extra)
    consumer.assign([TopicPartition(topic, partition, offset)])
    messages: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(messages) < count and time.monotonic() < deadline:
            for message in consumer.consume(count - len(messages), 0.5):
                assert message.error() is None, message.error()
                messages.append(message)
    finally:
        consumer.close()
    return messages


def kafka_python_consumer(broker: BrokerProcess, **extra: Any) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, **extra)


def kafka_python_poll(consumer: Any, count: int) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def topic_names(broker: BrokerProcess) -> set[str]:
    return set(confluent_admin(broker).list_topics(timeout=TIMEOUT).topics)


# -- 1. auto-creation -------------------------------------------------------------------


def test_confluent_producer_creates_its_topic_with_num_partitions(broker: BrokerProcess) -> None:
    topic = "auto-confluent-producer"
    assert topic not in topic_names(broker)
    delivered = produce_batches(broker, topic, [[(b"first", T0)]], partition=2)
    assert [(message.partition(), message.offset()) for message in delivered] == [(2, 0)]
    metadata = confluent_admin(broker).list_topics(topic, timeout=TIMEOUT).topics[topic]
    assert metadata.error is None
    assert sorted(metadata.partitions) == list(range(PARTITIONS))
    assert [message.value() for message in confluent_read(broker, topic, 2, 0, 1)] == [b"first"]


def test_kafka_python_producer_creates_its_topic_with_num_partitions(broker: BrokerProcess) -> None:
    from kafka import KafkaAdminClient, KafkaProducer

    topic = "auto-kafka-python-producer"
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        metadata = producer.send(topic, b"hello", partition=1).get(TIMEOUT)
        assert (metadata.partition, metadata.offset) == (1, 0)
    finally:
        producer.close()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    assert described["error_code"] == 0
    assert sorted(partition["partition_index"] for partition in described["partitions"]) == list(range(PARTITIONS))


def test_metadata_request_for_an_unknown_topic_creates_it(broker: BrokerProcess) -> None:
    from kafka import KafkaAdminClient

    # librdkafka's admin and producer ask with allow_auto_topic_creation=true ...
    topic = "auto-by-metadata"
    metadata = confluent_admin(broker).list_topics(topic, timeout=TIMEOUT).topics[topic]
    assert metadata.error is None
    assert len(metadata.partitions) == PARTITIONS
    assert topic in topic_names(broker)
    # ... its consumer and kafka-python's admin with false: the topic is not created.
    consumer = confluent_consumer(broker)
    try:
        metadata = consumer.list_topics("not-by-consumer-metadata", timeout=TIMEOUT).topics["not-by-consumer-metadata"]
    finally:
        consumer.close()
    assert metadata.error is not None and metadata.error.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        [described] = admin.describe_topics(["not-by-admin-metadata"])
    finally:
        admin.close()
    assert described["error_code"] == 3
    assert not {"not-by-consumer-metadata", "not-by-admin-metadata"} & topic_names(broker)


def test_without_auto_create_producers_and_metadata_get_unknown_topic(closed_broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    errors: list[Any] = []
    producer = confluent_producer(
        closed_broker, **{"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 500}
    )
    producer.produce("absent-confluent", b"lost", on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(TIMEOUT) == 0
    assert [error.code() for error in errors] == [KafkaError.UNKNOWN_TOPIC_OR_PART]

    metadata = confluent_admin(closed_broker).list_topics("absent-metadata", timeout=TIMEOUT).topics
    assert metadata["absent-metadata"].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert not metadata["absent-metadata"].partitions

    # kafka-python keeps asking for metadata until max_block_ms runs out.
    kafka_producer = KafkaProducer(bootstrap_servers=closed_broker.bootstrap, max_block_ms=1500)
    try:
        with pytest.raises(KafkaTimeoutError):
            kafka_producer.send("absent-kafka-python", b"lost").get(TIMEOUT)
    finally:
        kafka_producer.close(0)
    assert not {"absent-confluent", "absent-metadata", "absent-kafka-python"} & topic_names(closed_broker)


# -- 2. ListOffsets --------------------------------------------------------------------

# Three produce requests: batches of 3, 2 and 3 records, one second apart.
BATCHES = [
    [(b"a0", T0), (b"a1", T0 + 1000), (b"a2", T0 + 2000)],
    [(b"b3", T0 + 3000), (b"b4", T0 + 4000)],
    [(b"c5", T0 + 5000), (b"c6", T0 + 6000), (b"c7", T0 + 7000)],
]
# asked time -> first offset whose timestamp is >= it (None: after every record)
BY_TIME = {
    0: 0,
    T0 - 1: 0,
    T0: 0,
    T0 + 1: 1,
    T0 + 1000: 1,
    T0 + 1999: 2,
    T0 + 2000: 2,
    T0 + 2001: 3,  # between two batches
    T0 + 3500: 4,
    T0 + 4001: 5,
    T0 + 6500: 7,
    T0 + 7000: 7,
    T0 + 7001: None,
    T0 + 10**9: None,
}


def batch_count(broker: BrokerProcess, topic: str) -> int:
    """Index rows of a topic in the broker's SQLite store (read-only): its stored batches before compaction."""
    import sqlite3

    database = sqlite3.connect(f"file:{broker.data_dir / 'metadata.db'}?mode=ro", uri=True)
    try:
        [(count,)] = database.execute(
            "SELECT count(*) FROM batch_index JOIN topics USING (topic_id) WHERE name = ?", (topic,)
        ).fetchall()
    finally:
        database.close()
    return int(count)


def test_list_offsets_by_time_earliest_and_latest(broker: BrokerProcess) -> None:
    from confluent_kafka import TopicPartition
    from kafka import TopicPartition as KafkaTopicPartition

    topic = "list-offsets"
    create_topic(broker, topic)
    delivered = produce_batches(broker, topic, BATCHES)
    assert [message.offset() for message in delivered] == list(range(8))
    assert batch_count(broker, topic) == len(BATCHES), "records were meant to share batches"

    consumer = confluent_consumer(broker)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT) == (0, 8)
        # One partition per call: librdkafka merges a list naming one partition several times.
        found = [consumer.offsets_for_times([TopicPartition(topic, 0, timestamp)], TIMEOUT)[0] for timestamp in BY_TIME]
    finally:
        consumer.close()
    assert all(part.error is None for part in found)
    assert {timestamp: part.offset for timestamp, part in zip(BY_TIME, found, strict=True)} == {
        timestamp: -1 if offset is None else offset for timestamp, offset in BY_TIME.items()
    }

    partition = KafkaTopicPartition(topic, 0)
    kafka_consumer = kafka_python_consumer(broker)
    try:
        assert kafka_consumer.beginning_offsets([partition]) == {partition: 0}
        assert kafka_consumer.end_offsets([partition]) == {partition: 8}
        for timestamp, offset in BY_TIME.items():
            answer = kafka_consumer.offsets_for_times({partition: timestamp})[partition]
            if offset is None:
                assert answer is None, timestamp
            else:
                assert (answer.offset, answer.timestamp) == (offset, T0 + 1000 * offset), timestamp
    finally:
        kafka_consumer.close()


# -- 3. DeleteRecords -------------------------------------------------------------------


def test_delete_records_moves_the_log_start(broker: BrokerProcess) -> None:
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.errors import OffsetOutOfRangeError

    topic = "delete-records"
    create_topic(broker, topic)
    produce_batches(broker, topic, BATCHES)
    admin = confluent_admin(broker)
    [deleted] = admin.delete_records([TopicPartition(topic, 0, 4)]).values()
    assert confluent_result(deleted).low_watermark == 4

    consumer = confluent_consumer(broker)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT) == (4, 8)
        # A time before the log start finds the log start; a time inside the deleted range too.
        for timestamp in (T0, T0 + 1500, T0 + 4000):
            [found] = consumer.offsets_for_times([TopicPartition(topic, 0, timestamp)], TIMEOUT)
            assert found.offset == 4, timestamp
    finally:
        consumer.close()

    values = [bytes(message.value()) for message in confluent_read(broker, topic, 0, OFFSET_BEGINNING, 4)]
    assert values == [b"b4", b"c5", b"c6", b"c7"]
    # Below the log start: OFFSET_OUT_OF_RANGE, handled by auto.offset.reset.
    reset = confluent_read(broker, topic, 0, 1, 4, **{"auto.offset.reset": "earliest"})
    assert [message.offset() for message in reset] == [4, 5, 6, 7]
    strict = confluent_consumer(broker, **{"auto.offset.reset": "error"})
    try:
        strict.assign([TopicPartition(topic, 0, 2)])
        deadline = time.monotonic() + TIMEOUT
        error = None
        while error is None and time.monotonic() < deadline:
            message = strict.poll(0.5)
            if message is not None:
                assert message.error() is not None, f"read offset {message.offset()} below the log start"
                error = message.error()
    finally:
        strict.close()
    assert error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET
    assert "out of range" in error.str().lower()

    partition = KafkaTopicPartition(topic, 0)
    kafka_consumer = kafka_python_consumer(broker, auto_offset_reset="earliest")
    try:
        kafka_consumer.assign([partition])
        assert kafka_consumer.beginning_offsets([partition]) == {partition: 4}
        kafka_consumer.seek(partition, 1)
        assert [record.offset for record in kafka_python_poll(kafka_consumer, 4)] == [4, 5, 6, 7]
    finally:
        kafka_consumer.close()
    kafka_consumer = kafka_python_consumer(broker, auto_offset_reset="none")
    try:
        kafka_consumer.assign([partition])
        kafka_consumer.seek(partition, 3)
        with pytest.raises(OffsetOutOfRangeError):
            kafka_python_poll(kafka_consumer, 1)
    finally:
        kafka_consumer.close()


def test_offsets_for_times_after_delete_records_looks_past_the_deleted_records(broker: BrokerProcess) -> None:
    """The first batch whose max timestamp reaches the asked time may only have it in deleted records."""
    from confluent_kafka import TopicPartition

    topic = "delete-records-by-time"
    create_topic(broker, topic)
    # Offsets 0-2 in one batch, timestamps not in order (CreateTime allows it); offset 3 in the next.
    produce_batches(broker, topic, [[(b"late", T0 + 4000), (b"x1", T0), (b"x2", T0)], [(b"y3", T0 + 5000)]])
    admin = confluent_admin(broker)
    [deleted] = admin.delete_records([TopicPartition(topic, 0, 1)]).values()
    assert confluent_result(deleted).low_watermark == 1
    consumer = confluent_consumer(broker)
    try:
        [found] = consumer.offsets_for_times([TopicPartition(topic, 0, T0 + 3000)], TIMEOUT)
    finally:
        consumer.close()
    # Offset 0 (T0 + 4000) is deleted; offsets 1 and 2 are earlier than asked: offset 3 is the answer.
    assert found.offset == 3


# -- 4. CreatePartitions -----------------------------------------------------------------


def test_create_partitions_grows_a_topic_that_clients_then_use(broker: BrokerProcess) -> None:
    from confluent_kafka.admin import NewPartitions
    from kafka import KafkaProducer

    topic = "grown"
    create_topic(broker, topic, 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        assert producer.send(topic, b"before", partition=0).get(TIMEOUT).offset == 0
        assert producer.partitions_for(topic) == {0}
    finally:
        producer.close()
    admin = confluent_admin(broker)
    assert confluent_result(admin.create_partitions([NewPartitions(topic, 3)])[topic]) is None
    assert sorted(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions) == [0, 1, 2]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        assert producer.partitions_for(topic) == {0, 1, 2}
        sent = producer.send(topic, b"after", key=b"k", partition=2).get(TIMEOUT)
        assert (sent.partition, sent.offset) == (2, 0)
    finally:
        producer.close()
    delivered = produce_batches(broker, topic, [[(b"after-2", T0)]], partition=2)
    assert [(message.partition(), message.offset()) for message in delivered] == [(2, 1)]
    messages = confluent_read(broker, topic, 2, 0, 2)
    assert [(message.key(), message.value()) for message in messages] == [(b"k", b"after"), (None, b"after-2")]
    assert [bytes(message.value()) for message in confluent_read(broker, topic, 0, 0, 1)] == [b"before"]


# -- 5. LogAppendTime -----------------------------------------------------------------------


def test_log_append_time_topic_stamps_the_broker_time(broker: BrokerProcess) -> None:
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, TopicPartition

    topic = "log-append-time"
    create_topic(broker, topic, 1, {"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    delivered = produce_batches(broker, topic, [[(b"old-1", T0), (b"old-2", T0 + 1)], [(b"old-3", T0 + 2)]])
    after = int(time.time() * 1000)
    # The produce response carries the append time (log_append_time_ms).
    reported = [message.timestamp() for message in delivered]
    assert all(kind == TIMESTAMP_LOG_APPEND_TIME and before <= stamp <= after for kind, stamp in reported), reported

    messages = confluent_read(broker, topic, 0, 0, 3)
    stamps = [message.timestamp() for message in messages]
    assert all(kind == TIMESTAMP_LOG_APPEND_TIME for kind, _ in stamps), stamps
    assert all(before <= stamp <= after for _, stamp in stamps), (before, stamps, after)
    assert stamps[0] == stamps[1], "records of one batch share its append time"

    kafka_consumer = kafka_python_consumer(broker, auto_offset_reset="earliest")
    try:
        kafka_consumer.subscribe([topic])
        records = kafka_python_poll(kafka_consumer, 3)
    finally:
        kafka_consumer.close()
    assert [(record.timestamp_type, record.timestamp) for record in records] == [(1, stamp) for _, stamp in stamps]

    # Time look-ups go by the append times, not by the producer's timestamps.
    consumer = confluent_consumer(broker)
    try:
        for asked, offset in ((T0 + 10, 0), (stamps[0][1], 0), (stamps[-1][1] + 1, -1)):
            [found] = consumer.offsets_for_times([TopicPartition(topic, 0, asked)], TIMEOUT)
            assert found.offset == offset, asked
    finally:
        consumer.close()


# -- 6. cleanup.policy=compact -----------------------------------------------------------------


def produce_keyed(broker: BrokerProcess, topic: str, records: list[tuple[bytes | None, bytes]]) -> list[Any]:
    """The records as one batch of one produce request; each one's error code (0: delivered), in order."""
    outcomes: dict[bytes, int] = {}

    def report(error: Any, message: Any) -> None:
        outcomes[message.value()] = 0 if error is None else error.code()

    producer = confluent_producer(broker, **{"linger.ms": 100})
    for key, value in records:
        producer.produce(topic, value, key, partition=0, on_delivery=report)
    assert producer.flush(TIMEOUT) == 0
    return [outcomes[value] for _, value in records]


def test_compacted_topics_refuse_records_without_a_key(broker: BrokerProcess) -> None:
    import kafka.errors
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import ConfigResource as KafkaConfigResource

    topic = "compacted"
    create_topic(broker, topic, 1, {"cleanup.policy": "compact"})
    # librdkafka 0011_produce_batch: the keyless records of a batch fail with INVALID_RECORD (the broker
    # names them in record_errors, KIP-467), its other records with _INVALID_DIFFERENT_RECORD.
    records = [(None if i % 5 == 0 else b"k%d" % i, b"v%d" % i) for i in range(10)]
    codes = produce_keyed(broker, topic, records)
    assert codes == [
        KafkaError.INVALID_RECORD if key is None else KafkaError._INVALID_DIFFERENT_RECORD for key, _ in records
    ]
    # Nothing of the refused batch was stored: keyed records come first.
    assert produce_keyed(broker, topic, [(b"a", b"first"), (b"b", b"second")]) == [0, 0]
    read = confluent_read(broker, topic, 0, 0, 2)
    assert [(m.offset(), m.key(), m.value()) for m in read] == [(0, b"a", b"first"), (1, b"b", b"second")]

    kafka_producer = KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0)
    try:
        with pytest.raises(kafka.errors.InvalidRecordError):
            kafka_producer.send(topic, b"no key", partition=0).get(TIMEOUT)
        assert kafka_producer.send(topic, b"third", key=b"c", partition=0).get(TIMEOUT).offset == 2
    finally:
        kafka_producer.close()

    # APPEND makes a delete topic "delete,compact": retention and keys both apply from then on.
    altered = "compact-by-alteration"
    create_topic(broker, altered)
    admin = confluent_admin(broker)
    append = ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)
    resource = ConfigResource(ResourceType.TOPIC, altered, incremental_configs=[append])
    assert [confluent_result(f) for f in admin.incremental_alter_configs([resource]).values()] == [None]
    kafka_admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = kafka_admin.describe_configs([KafkaConfigResource("TOPIC", altered)], config_filter="all")
    finally:
        kafka_admin.close()
    assert described["topic"][altered]["cleanup.policy"]["value"] == "delete,compact"
    # (Two keyless records: with one record error, librdkafka reports the partition's error for all.)
    assert produce_keyed(broker, altered, [(None, b"keyless"), (b"k", b"keyed"), (None, b"keyless too")]) == [
        KafkaError.INVALID_RECORD,
        KafkaError._INVALID_DIFFERENT_RECORD,
        KafkaError.INVALID_RECORD,
    ]

    # Only delete and compact are policies.
    [error] = [
        confluent_result(f)
        for f in admin.create_topics([NewTopic("shredded", 1, 1, config={"cleanup.policy": "compact,shred"})]).values()
    ]
    assert error.code() == 40 and "cleanup.policy" in error.str(), error  # INVALID_CONFIG
    assert "shredded" not in topic_names(broker)


# -- 8. /health -------------------------------------------------------------------------------


def test_health_endpoint(broker: BrokerProcess) -> None:
    assert broker.http_port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/health", timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        body = json.loads(response.read())
    assert body["status"] == "ok"
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/no-such-page", timeout=TIMEOUT)
    assert raised.value.code == 404
    assert "error" in json.loads(raised.value.read())
    raised.value.close()


def http_get(broker: BrokerProcess, path: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of GET `path` on the broker's HTTP port, error statuses included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}{path}", timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_ready_follows_the_object_store(tmp_path: Path) -> None:
    """/ready is 200 while both stores answer, 503 naming the object store while its folder is gone, 200 again after."""
    broker = BrokerProcess(tmp_path).start()
    try:
        assert http_get(broker, "/ready") == (200, {"status": "ready", "broker_id": 0})
        objects = tmp_path / "objects"
        objects.rename(tmp_path / "objects-away")
        objects.write_text("not a folder")  # root can write anywhere: a file in its place makes the probe fail
        status, body = http_get(broker, "/ready")
        assert status == 503
        assert body["status"] == "not ready"
        assert list(body["reasons"]) == ["objects"], body
        objects.unlink()
        (tmp_path / "objects-away").rename(objects)
        assert http_get(broker, "/ready") == (200, {"status": "ready", "broker_id": 0})
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


# -- 9. SIGINT -------------------------------------------------------------------------------


def produce_in_flight(broker: BrokerProcess, topic: str, count: int) -> tuple[Any, list[Any], list[Any]]:
    """A producer with `count` records sent to partition 0 and not yet answered; its delivered and failed lists."""
    delivered: list[Any] = []
    failures: list[Any] = []

    def report(error: Any, message: Any) -> None:
        (failures if error is not None else delivered).append(error or message)

    producer = confluent_producer(broker, **{"linger.ms": 0, "message.timeout.ms": 20000})
    for index in range(count):
        producer.produce(topic, b"value-%d" % index, partition=0, on_delivery=report)
    producer.poll(0.3)  # sent; the broker's flush delay holds the answers
    assert not delivered and not failures
    return producer, delivered, failures


def test_sigint_answers_in_flight_produce_requests_and_exits_0(tmp_path: Path) -> None:
    # A flush delay keeps the produce requests waiting in the write buffer when SIGINT arrives.
    broker = BrokerProcess(tmp_path / "sigint", ["--flush-ms", "1500"]).start()
    try:
        producer, delivered, failures = produce_in_flight(broker, "sigint", 20)
        assert broker.stop(signal.SIGINT, timeout=TIMEOUT) == 0, broker.log_text()[-4000:]
        producer.flush(1)
        assert not failures, failures
        assert [message.offset() for message in delivered] == list(range(20))
        broker.port = 0
        broker.start()
        values = [bytes(message.value()) for message in confluent_read(broker, "sigint", 0, 0, 20)]
        assert values == [b"value-%d" % index for index in range(20)]
    finally:
        broker.kill()


def test_sigint_flushes_the_write_buffer_without_waiting_for_the_flush_delay(tmp_path: Path) -> None:
    """Shutting down should flush at once: waiting out flush.ms delays it, and past the 10 s grace loses the acks."""
    broker = BrokerProcess(tmp_path / "sigint-prompt", ["--flush-ms", "3000"]).start()
    try:
        producer, delivered, failures = produce_in_flight(broker, "sigint-prompt", 5)
        signalled = time.monotonic()
        assert broker.stop(signal.SIGINT, timeout=TIMEOUT) == 0, broker.log_text()[-4000:]
        took = time.monotonic() - signalled
        producer.flush(1)
        assert not failures and len(delivered) == 5, failures
        assert took < 1.5, f"shutdown took {took:.1f} s: it waited for the 3 s flush delay"
    finally:
        broker.kill()
