"""Stock clients produce 10,000 records and read them back byte for byte, in order per partition.

Every client produces with each of the four codecs, with idempotence on and off, into one
3-partition topic; the same client then consumes the topic from the beginning. Acknowledged
records survive SIGTERM and SIGKILL restarts, and a SIGKILL in the middle of a produce.

Backends (tests/e2e/conftest.py): every client runs on the embedded default; on PostgreSQL
metadata, on S3 storage and on both, the same tests run with a representative subset of clients
(REPRESENTATIVE: librdkafka and a pure-Python client), which keeps the added time modest.
"""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol.records import iter_batches
from tests.brokerproc import BrokerProcess
from tests.e2e.clients import CONSUMERS, PRODUCERS, Received, confluent_consume, confluent_produce
from tests.e2e.conftest import BACKENDS, DEFAULT
from tests.e2e.dataset import PARTITIONS, Sent, by_partition, records

CODECS = ("gzip", "snappy", "lz4", "zstd")
TOTAL = 10_000


def assert_same(sent: list[Sent], received: list[Received]) -> None:
    """Per partition: the same records in the same order, at offsets 0, 1, 2, ..."""
    got: dict[int, list[Received]] = {partition: [] for partition in range(PARTITIONS)}
    for item in received:
        got[item.partition].append(item)
    for partition, expected in by_partition(sent).items():
        actual = got[partition]
        assert [item.offset for item in actual] == list(range(len(expected))), f"partition {partition} offsets"
        mismatches = [i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a.as_sent() != b]
        assert not mismatches, f"partition {partition}: first mismatch at {mismatches[0]}"


REPRESENTATIVE = ("confluent-kafka", "kafka-python")
CASES = [
    pytest.param(backend, client, id=f"{client}-{backend}")
    for backend in BACKENDS
    for client in (PRODUCERS if backend == DEFAULT else REPRESENTATIVE)
]


@pytest.mark.parametrize(("backend", "client"), CASES, indirect=["backend"])
def test_round_trip_every_codec_idempotence_on_and_off(
    backend: list[str], client: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    broker = BrokerProcess(tmp_path_factory.mktemp(client), ["--num-partitions", str(PARTITIONS), *backend]).start()
    try:
        topic = f"round-trip-{client}"
        sent = records(TOTAL, seed=sum(client.encode()), printable=client == "kcat")
        rounds = list(itertools.product(CODECS, (True, False)))
        size = TOTAL // len(rounds)
        for number, (codec, idempotent) in enumerate(rounds):
            PRODUCERS[client](broker.bootstrap, topic, sent[number * size : (number + 1) * size], codec, idempotent)
        assert_same(sent, CONSUMERS[client](broker.bootstrap, topic, TOTAL))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


def test_a_burst_is_stored_as_objects_of_at_most_flush_bytes(tmp_path: Path) -> None:
    """librdkafka's records, gathered for 300 ms, land in objects of at most --flush-bytes (or one batch)."""
    flush_bytes = 64 * 1024
    flags = ["--num-partitions", str(PARTITIONS), "--flush-ms", "300", "--flush-bytes", str(flush_bytes)]
    broker = BrokerProcess(tmp_path, [*flags, "--compaction-interval-ms", str(24 * 3600 * 1000)]).start()
    try:
        sent = records(TOTAL, seed=11)
        confluent_produce(broker.bootstrap, "burst", sent, "none", False)
        stored = broker.read_objects("flush/")
        assert_same(sent, confluent_consume(broker.bootstrap, "burst", TOTAL))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
    sizes = {key: (len(data), len(list(iter_batches(data)))) for key, data in stored.items()}
    assert sum(size for size, _ in sizes.values()) > 4 * flush_bytes  # more than several objects' worth
    assert all(size <= flush_bytes or batches == 1 for size, batches in sizes.values()), sizes


@pytest.mark.parametrize(("backend", "client"), CASES, indirect=["backend"])
def test_acknowledged_records_survive_term_and_kill(
    backend: list[str], client: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    broker = BrokerProcess(tmp_path_factory.mktemp("restarts"), ["--num-partitions", str(PARTITIONS), *backend]).start()
    topic = f"restarts-{client}"
    sent = records(4000, seed=7, printable=client == "kcat")
    produce, consume = PRODUCERS[client], CONSUMERS[client]
    try:
        produce(broker.bootstrap, topic, sent[:2000], "lz4", True)
        assert broker.restart(signal.SIGTERM) == 0
        assert_same(sent[:2000], consume(broker.bootstrap, topic, 2000))
        produce(broker.bootstrap, topic, sent[2000:], "zstd", True)
        broker.restart(signal.SIGKILL)
        assert_same(sent, consume(broker.bootstrap, topic, 4000))
    finally:
        broker.kill()


def test_kill_9_during_a_produce_loses_nothing_acknowledged(
    backend: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGKILL while acks=all batches stream in: every record acknowledged before the kill is there after."""
    from confluent_kafka import Producer

    broker = BrokerProcess(tmp_path_factory.mktemp("kill9"), ["--num-partitions", "1", *backend]).start()
    acknowledged: list[tuple[int, bytes]] = []

    def delivered(error: object, message: Any) -> None:
        if error is None:
            acknowledged.append((message.offset(), message.value()))

    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2, "message.timeout.ms": 5000}
    )
    try:
        deadline = time.monotonic() + 30
        index = 0
        while len(acknowledged) < 5000 and time.monotonic() < deadline:
            try:
                producer.produce("kill9", value=b"record-%d" % index, partition=0, on_delivery=delivered)
            except BufferError:  # the client's queue is full (a slower backend): let deliveries catch up
                producer.poll(0.1)
                continue
            index += 1
            producer.poll(0)
        broker.stop(signal.SIGKILL)
        producer.flush(10)  # the rest fail: the broker is gone
        before_kill = sorted(acknowledged)
        assert len(before_kill) >= 5000
        broker.start()
        stored = {item.offset: item.value for item in confluent_consume(broker.bootstrap, "kill9", len(before_kill))}
        assert all(stored.get(offset) == value for offset, value in before_kill)
    finally:
        broker.kill()
