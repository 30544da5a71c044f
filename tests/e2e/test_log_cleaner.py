"""The log cleaner seen through stock clients: compacted topics read back as the last value per key.

Each test runs a broker of its own with `--compaction-interval-ms 1000 --log-cleaner-interval-ms 1000`
(the issue's Done-when), produces with confluent-kafka, and reads the topic from its start with
confluent-kafka, kafka-python and kcat, which all read across the gaps cleaning leaves in offsets.
The Done-when and the Connect-style topic run on the default stores and on S3 with PostgreSQL.
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.broker.test_admin_handlers import KAFKA_4_TOPIC_CONFIGS
from tests.brokerproc import BrokerProcess
from tests.e2e.test_maintenance import create_topic, watermarks

CLEANER_ARGS = ["--compaction-interval-ms", "1000", "--log-cleaner-interval-ms", "1000", "--fsync", "never"]
DONE_WHEN_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "1000",
}
RECORDS = 5000
KEYS = 50
DELETED = 10
TICK_S = 3.0
CLEANED_WITHIN_S = 90.0
TIMEOUT = 30.0


class Read(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[Callable[[list[str]], BrokerProcess]]:
    started: list[BrokerProcess] = []

    def start(extra: list[str]) -> BrokerProcess:
        started.append(BrokerProcess(tmp_path / f"broker{len(started)}", [*CLEANER_ARGS, *extra]).start())
        return started[-1]

    yield start
    for process in started:
        assert process.stop() == 0, process.log_text()[-4000:]


@pytest.fixture
def backend_broker(backend: list[str], start_broker: Callable[[list[str]], BrokerProcess]) -> BrokerProcess:
    """A broker on the test's `backend`, whose stores are set up first and so outlive it at teardown."""
    return start_broker(backend)


# -- clients ------------------------------------------------------------------------------


def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None]], partition: int = 0) -> list[int]:
    """Send the (key, value) records in order to the partition, idempotently; returns the offset each got."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    offsets: list[int] = [-1] * len(items)
    failures: list[Any] = []

    def delivered(index: int) -> Callable[[Any, Any], None]:
        def report(error: Any, message: Any) -> None:
            if error is not None:
                failures.append(error)
            else:
                offsets[index] = message.offset()

        return report

    for index, (key, value) in enumerate(items):
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=partition, on_delivery=delivered(index))
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(TIMEOUT) == 0
    assert not failures, failures[:3]
    return offsets


def read_confluent(bootstrap: str, topic: str, isolation: str = "read_committed") -> list[Read]:
    """Partition 0 from its start to its high watermark (as it was when the read began)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    _, high = watermarks_at(bootstrap, topic)
    settings = {"group.id": "unused", "enable.auto.commit": False, "isolation.level": isolation}
    consumer = Consumer({"bootstrap.servers": bootstrap, **settings})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found: list[Read] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while (not found or found[-1].offset < high - 1) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                found.append(Read(message.offset(), message.key(), message.value()))
    finally:
        consumer.close()
    assert not found or found[-1].offset >= high - 1, f"read up to {found[-1].offset}, the end is {high}"
    return found


def read_kafka_python(bootstrap: str, topic: str) -> list[Read]:
    from kafka import KafkaConsumer, TopicPartition

    _, high = watermarks_at(bootstrap, topic)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    found: list[Read] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while consumer.position(partition) < high and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [Read(record.offset, record.key, record.value) for record in records]
    finally:
        consumer.close()
    return found


def read_kcat(bootstrap: str, topic: str) -> list[str]:
    """kcat -C -f '%k %s\\n' from the beginning to the end: one line per record."""
    output = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%k %s\n"],
        capture_output=True, text=True, check=True, timeout=TIMEOUT,
    ).stdout  # fmt: skip
    return [line for line in output.split("\n") if line]


def watermarks_at(bootstrap: str, topic: str) -> tuple[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT)
    finally:
        consumer.close()
    return int(low), int(high)


class Ticker:
    """A record of its own key every `every_s` seconds to each partition, in a thread: segments keep rolling."""

    def __init__(self, bootstrap: str, topic: str, every_s: float, partitions: int = 1) -> None:
        self.bootstrap, self.topic, self.every_s, self.partitions = bootstrap, topic, every_s, partitions
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for partition in range(self.partitions):
                produce(self.bootstrap, self.topic, [(b"ticker", str(self.sent).encode())], partition)
            self.sent += 1


# -- the Done-when ---------------------------------------------------------------------------


def key_name(number: int) -> bytes:
    return f"key-{number:02d}".encode()


def wait_for(condition: Callable[[], bool], what: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {within_s} s")
        time.sleep(1.0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["default", "postgresql-s3"], indirect=True)
def test_done_when_a_compacted_topic_reads_back_as_the_last_value_of_each_live_key(
    backend_broker: BrokerProcess,
) -> None:
    broker = backend_broker
    topic = "done-when-compacted"
    create_topic(broker, topic, 1, DONE_WHEN_CONFIGS)
    items = [(key_name(n % KEYS), f"value-{n}".encode()) for n in range(RECORDS)]
    offsets = produce(broker.bootstrap, topic, items)
    deleted = {key_name(n) for n in range(DELETED)}
    produce(broker.bootstrap, topic, [(key, None) for key in sorted(deleted)])
    # The last value of each live key, and the offset it was given.
    latest = {key: (offset, value) for (key, value), offset in zip(items, offsets, strict=True) if key not in deleted}
    assert len(latest) == KEYS - DELETED

    def cleaned(found: list[Read]) -> bool:
        by_key = {read.key: (read.offset, read.value) for read in found if read.key != b"ticker"}
        return len(found) <= 200 and by_key == latest

    reads: list[list[Read]] = []

    def read_is_clean() -> bool:
        reads.append(read_confluent(broker.bootstrap, topic))
        return cleaned(reads[-1])

    started = time.monotonic()
    with Ticker(broker.bootstrap, topic, TICK_S):
        wait_for(read_is_clean, "cleaned to the last value per live key", CLEANED_WITHIN_S)
        print(f"cleaned in {time.monotonic() - started:.1f} s, {len(reads[-1])} records read")
        # Offsets are kept: each live key's record is where it was produced; no deleted key's record at all.
        found = reads[-1]
        assert not [read for read in found if read.key in deleted]
        assert len(found) <= 200
        for read in found:
            if read.key != b"ticker":
                assert latest[read.key] == (read.offset, read.value)
        # The other clients read across the gaps the same way.
        python_found = read_kafka_python(broker.bootstrap, topic)
        assert {r.key: (r.offset, r.value) for r in python_found if r.key != b"ticker"} == latest
        assert len(python_found) <= 200
        lines = read_kcat(broker.bootstrap, topic)
        assert len(lines) <= 200
        shown = dict(line.split(" ", 1) for line in lines if not line.startswith("ticker "))
        assert shown == {key.decode(): value.decode() for key, (_, value) in latest.items()}
    # Nothing moved the log start: compaction keeps offsets, it does not delete from the front.
    assert watermarks(broker, topic)[0] == 0
    samples = cleaner_samples(broker)
    assert samples["streamhouse_log_cleaner_bytes_read_total"] > 0
    assert samples["streamhouse_log_cleaner_bytes_written_total"] > 0
    assert samples["streamhouse_log_cleaner_records_removed_total"] >= RECORDS - (KEYS - DELETED)
    partition = f'{{partition="0",topic="{topic}"}}'
    assert 0 <= samples[f"streamhouse_log_cleaner_dirty_ratio{partition}"] <= 1
    assert 0 <= samples[f"streamhouse_log_cleaner_seconds_since_last_clean{partition}"] < CLEANED_WITHIN_S


def cleaner_samples(broker: BrokerProcess) -> dict[str, float]:
    """The log cleaner's samples on the broker's /metrics, by name and labels as Prometheus's text writes them."""
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=TIMEOUT) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("streamhouse_log_cleaner_"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


# -- cleaned while producers and consumers run ---------------------------------------------


@pytest.mark.slow
def test_a_topic_is_cleaned_while_producers_and_consumers_run(
    start_broker: Callable[[list[str]], BrokerProcess],
) -> None:
    from confluent_kafka import Consumer

    broker = start_broker([])
    topic = "busy-compacted"
    create_topic(broker, topic, 1, {**DONE_WHEN_CONFIGS, "delete.retention.ms": "60000"})
    keys = [key_name(n) for n in range(20)]
    rounds = 60
    seen: dict[bytes, list[int]] = {key: [] for key in keys}
    stop = threading.Event()
    failures: list[str] = []

    def consume() -> None:
        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap, "group.id": "busy", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        failures.append(str(message.error()))
                        continue
                    seen[message.key()].append(int(message.value()))
        finally:
            consumer.close()

    consumer_thread = threading.Thread(target=consume, name="consumer", daemon=True)
    consumer_thread.start()
    for round_number in range(rounds):  # about 30 s: every round rolls a segment (segment.ms=100)
        produce(broker.bootstrap, topic, [(key, str(round_number).encode()) for key in keys])
        time.sleep(0.5)
    wait_for(lambda: all(values and values[-1] == rounds - 1 for values in seen.values()), "all consumed", TIMEOUT)
    stop.set()
    consumer_thread.join(TIMEOUT)
    assert not failures, failures[:3]
    # The running consumer saw each key's values in order (cleaning never reorders or resurrects).
    for values in seen.values():
        assert values == sorted(values)

    def compacted() -> bool:
        found = read_confluent(broker.bootstrap, topic)
        return len(found) < rounds * len(keys) // 2 and {r.key: r.value for r in found} == {
            key: str(rounds - 1).encode() for key in keys
        }

    wait_for(compacted, "cleaned", CLEANED_WITHIN_S)


# -- a Connect-style config topic ------------------------------------------------------------


def read_to_end_as_a_worker_starts(bootstrap: str, topic: str) -> tuple[dict[bytes, bytes], int]:
    """Kafka Connect's KafkaBasedLog at start: read from the beginning to the end offset, applying
    each record to a map (a tombstone removes its key); returns the map and the records read."""
    state: dict[bytes, bytes] = {}
    found = read_confluent(bootstrap, topic)
    for read in found:
        assert read.key is not None
        if read.value is None:
            state.pop(read.key, None)
        else:
            state[read.key] = read.value
    return state, len(found)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["default", "postgresql-s3"], indirect=True)
def test_a_connect_style_config_topic_reads_to_its_end_at_start(
    backend_broker: BrokerProcess,
) -> None:
    broker = backend_broker
    topic = "connect-configs"
    create_topic(broker, topic, 1, {**DONE_WHEN_CONFIGS, "delete.retention.ms": "2000"})
    expected: dict[bytes, bytes] = {}
    written = 0
    for version in range(30):  # connectors reconfigured over time, each write its own request
        records = [(f"connector-{n}".encode(), f'{{"version": {version}}}'.encode()) for n in range(5)]
        records += [(b"target-state-connector-0", b'{"state": "STARTED"}')]
        produce(broker.bootstrap, topic, records)
        expected.update(records)
        written += len(records)
    produce(broker.bootstrap, topic, [(b"connector-4", None)])  # a connector deleted
    del expected[b"connector-4"]
    written += 1
    with Ticker(broker.bootstrap, topic, TICK_S):  # the status writes that keep segments rolling
        wait_for(
            lambda: read_to_end_as_a_worker_starts(broker.bootstrap, topic)[1] <= len(expected) + 3,
            "cleaned down to the live connectors",
            CLEANED_WITHIN_S,
        )
        state, read = read_to_end_as_a_worker_starts(broker.bootstrap, topic)
    state.pop(b"ticker", None)
    assert state == expected
    assert read < written


# -- cleanup.policy: compact,delete applies both; empty applies neither ------------------------


def test_compact_delete_applies_retention_and_compaction_and_an_empty_policy_neither(
    start_broker: Callable[[list[str]], BrokerProcess],
) -> None:
    broker = start_broker([])
    rolling = {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01", "retention.ms": "4000"}
    create_topic(broker, "both", 1, {**rolling, "cleanup.policy": "compact,delete"})
    create_topic(broker, "neither", 1, {**rolling, "cleanup.policy": ""})
    updates = [(key_name(n % 5), str(n).encode()) for n in range(50)]
    for topic in ("both", "neither"):
        produce(broker.bootstrap, topic, updates)
    with Ticker(broker.bootstrap, "both", 1.0), Ticker(broker.bootstrap, "neither", 1.0):
        # Compaction: the 50 updates of 5 keys are cleaned down to their last values...
        wait_for(lambda: len(read_confluent(broker.bootstrap, "both")) <= 10, "compacted", CLEANED_WITHIN_S)
        # ...and retention then drops them from the front, moving the log start.
        wait_for(lambda: watermarks(broker, "both")[0] >= len(updates), "deleted by retention", CLEANED_WITHIN_S)
        # The same passes left the topic without a policy whole: infinite retention, no compaction.
        start, _ = watermarks(broker, "neither")
        found = read_confluent(broker.bootstrap, "neither")
    assert start == 0
    assert [(read.key, read.value) for read in found[: len(updates)]] == updates


# -- configs through a stock admin client ------------------------------------------------------


def test_describe_configs_lists_kafkas_topic_configs_and_subtract_may_empty_a_list(
    start_broker: Callable[[list[str]], BrokerProcess],
) -> None:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

    broker = start_broker([])
    create_topic(broker, "described", 1, DONE_WHEN_CONFIGS)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = ConfigResource(ConfigResource.Type.TOPIC, "described")
    [described] = admin.describe_configs([topic]).values()
    entries = described.result(TIMEOUT)
    assert set(entries) >= KAFKA_4_TOPIC_CONFIGS
    for name, value in DONE_WHEN_CONFIGS.items():
        assert (entries[name].value, entries[name].source) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert (entries["file.delete.delay.ms"].value, entries["file.delete.delay.ms"].source) == (
        "60000",
        ConfigSource.DEFAULT_CONFIG.value,
    )
    # SUBTRACT empties cleanup.policy, as Kafka 4.2 allows; APPEND adds to it again.
    for operation, value, expected in (
        (AlterConfigOpType.SUBTRACT, "compact", ""),
        (AlterConfigOpType.APPEND, "delete,compact", "delete,compact"),
    ):
        entry = ConfigEntry("cleanup.policy", value, incremental_operation=operation)
        resource = ConfigResource(ConfigResource.Type.TOPIC, "described", incremental_configs=[entry])
        [altered] = admin.incremental_alter_configs([resource]).values()
        altered.result(TIMEOUT)
        [again] = admin.describe_configs([topic]).values()
        assert again.result(TIMEOUT)["cleanup.policy"].value == expected
    # The broker's own settings, the cleaner's among them.
    [broker_configs] = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "0")]).values()
    settings = broker_configs.result(TIMEOUT)
    assert settings["log.cleaner.backoff.ms"].value == "1000"
    assert settings["log.cleaner.min.cleanable.ratio"].value == "0.5"


# -- transactions ------------------------------------------------------------------------------


def test_aborted_records_are_cleaned_away_and_read_committed_reads_across_the_gaps(
    start_broker: Callable[[list[str]], BrokerProcess],
) -> None:
    from confluent_kafka import Producer

    broker = start_broker([])
    topic = "transactional-compacted"
    create_topic(broker, topic, 1, DONE_WHEN_CONFIGS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "cleaned-tx"})
    producer.init_transactions(TIMEOUT)
    for outcome, keys, value in (
        ("commit", "abcde", b"first"),
        ("abort", "abcde", b"aborted"),
        ("commit", "abc", b"second"),
    ):
        producer.begin_transaction()
        for key in keys:
            producer.produce(topic, key=key.encode(), value=value, partition=0)
        producer.flush(TIMEOUT)
        if outcome == "commit":
            producer.commit_transaction(TIMEOUT)
        else:
            producer.abort_transaction(TIMEOUT)
    expected = {b"a": b"second", b"b": b"second", b"c": b"second", b"d": b"first", b"e": b"first"}

    def values(found: list[Read]) -> dict[bytes | None, bytes | None]:
        return {read.key: read.value for read in found if read.key != b"ticker"}

    with Ticker(broker.bootstrap, topic, TICK_S):
        # read_uncommitted shows aborted records until the cleaner removes them.
        wait_for(
            lambda: b"aborted" not in {r.value for r in read_confluent(broker.bootstrap, topic, "read_uncommitted")},
            "aborted records cleaned away",
            CLEANED_WITHIN_S,
        )
        committed = read_confluent(broker.bootstrap, topic, "read_committed")
        uncommitted = read_confluent(broker.bootstrap, topic, "read_uncommitted")
    assert values(committed) == values(uncommitted) == expected
    # Superseded and aborted records are gone: of the 13 data records written, one per live key is left.
    assert len([read for read in committed if read.key != b"ticker"]) == len(expected)


# -- several brokers -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_brokers_clean_each_partition_once_each_on_its_preferred_broker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from tests.e2e.conftest import backend_args

    shared = backend_args("postgresql-s3", request)
    brokers = [
        BrokerProcess(
            tmp_path / f"broker-{n}", [*CLEANER_ARGS, "--broker-id", str(n), "--broker-heartbeat-ms", "500", *shared]
        )
        for n in (1, 2)
    ]
    request.addfinalizer(lambda: [broker.kill() for broker in brokers])
    for broker in brokers:
        broker.start()
    partitions = 4
    topic_id = create_topic(brokers[0], "shared-compacted", partitions, DONE_WHEN_CONFIGS)
    updates = [(key_name(n % 5), str(n).encode()) for n in range(100)]
    for partition in range(partitions):
        produce(brokers[0].bootstrap, "shared-compacted", updates, partition)
    cleaned_by: dict[int, set[int]] = {}

    def every_partition_cleaned() -> bool:
        for broker_id, broker in zip((1, 2), brokers, strict=True):
            lines = broker.log_text().splitlines()
            cleaned_by[broker_id] = {
                partition
                for partition in range(partitions)
                if any(f"cleaned {topic_id}/{partition} " in line for line in lines)
            }
        return cleaned_by[1] | cleaned_by[2] == set(range(partitions))

    with Ticker(brokers[1].bootstrap, "shared-compacted", TICK_S, partitions):
        wait_for(every_partition_cleaned, "every partition cleaned", CLEANED_WITHIN_S)
    # One cleaner per partition: no partition was cleaned by both brokers, and both had some to clean.
    assert not cleaned_by[1] & cleaned_by[2], cleaned_by
    assert cleaned_by[1] and cleaned_by[2], cleaned_by
    for broker in brokers:
        assert "pass failed" not in broker.log_text(), broker.log_text()[-4000:]
    for broker in brokers:
        assert broker.stop() == 0, broker.log_text()[-4000:]
