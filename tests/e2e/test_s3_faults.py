"""S3 failing under a running broker: errors, slowness and a 10 s outage, injected by a proxy in front of S3.

The broker reaches the session's S3 server only through tests/faultproxy.py. Stock clients produce and
consume along while the proxy misbehaves; afterwards every acknowledged record is there exactly once, at
the offset its acknowledgement named, and the same broker process served it all.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.errors import ErrorCode
from tests.brokerproc import BrokerProcess
from tests.e2e.test_postgres import fetch, produce, records_of
from tests.faultproxy import FaultProxy
from tests.s3server import S3Server
from tests.wireclient import WireClient

PARTITIONS = 2
RECORDS = 3000
TIMEOUT = 120.0


@pytest.fixture
def broker(s3_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> Iterator[BrokerProcess]:
    args = [
        "--num-partitions", str(PARTITIONS),
        "--storage", f"s3://{s3_bucket}/faults", "--s3-endpoint", s3_proxy.endpoint, "--s3-region", s3_server.region,
    ]  # fmt: skip
    process = BrokerProcess(tmp_path / "broker", args).start()
    yield process
    process.kill()


def ready(broker: BrokerProcess) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of GET /ready."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/ready", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.2)


@dataclass
class ProduceLoop:
    """An idempotent acks=all producer sending RECORDS values, paced, on a thread of its own."""

    bootstrap: str
    topic: str
    acknowledged: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # value -> (partition, offset)
    failures: list[str] = field(default_factory=list)
    undelivered: int = -1

    def run(self) -> None:
        from confluent_kafka import KafkaError, Message, Producer

        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "delivery.timeout.ms": int(TIMEOUT * 1000),
            }
        )

        def delivered(error: KafkaError | None, message: Message) -> None:
            value = message.value()
            assert value is not None
            if error is not None:
                self.failures.append(f"{value!r}: {error}")
                return
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            self.acknowledged[value] = (partition, offset)

        for index in range(RECORDS):
            value = b"record-%06d" % index
            producer.produce(self.topic, value=value, partition=index % PARTITIONS, on_delivery=delivered)
            producer.poll(0.01)  # about 30 s of producing, so that every fault below meets it
        self.undelivered = producer.flush(TIMEOUT)


@dataclass
class ConsumeLoop:
    """A consumer reading both partitions from the start until it has `expected` records or time runs out."""

    bootstrap: str
    topic: str
    received: list[tuple[int, int, bytes]] = field(default_factory=list)  # partition, offset, value
    errors: list[str] = field(default_factory=list)
    expected: int = RECORDS
    finished = False

    def run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused", "enable.auto.commit": False})
        consumer.assign([TopicPartition(self.topic, partition, OFFSET_BEGINNING) for partition in range(PARTITIONS)])
        deadline = time.monotonic() + 3 * TIMEOUT
        try:
            while len(self.received) < self.expected and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    error = message.error()
                    if error is not None:
                        self.errors.append(str(error))
                        continue
                    partition, offset, value = message.partition(), message.offset(), message.value()
                    assert partition is not None and offset is not None and value is not None
                    self.received.append((partition, offset, value))
            self.finished = len(self.received) >= self.expected
        finally:
            consumer.close()


def test_no_acknowledged_record_is_lost_or_duplicated_through_s3_errors_delays_and_an_outage(
    broker: BrokerProcess, s3_proxy: FaultProxy
) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    topic = "through-faults"
    assert ready(broker)[0] == 200
    pid = broker.process.pid if broker.process else None
    producing = ProduceLoop(broker.bootstrap, topic)
    consuming = ConsumeLoop(broker.bootstrap, topic)
    threads = [threading.Thread(target=producing.run), threading.Thread(target=consuming.run)]
    for thread in threads:
        thread.start()

    time.sleep(2)
    with s3_proxy.fault("error", status=503):
        time.sleep(3)
    time.sleep(2)
    with s3_proxy.fault("error", status=500):
        time.sleep(3)
    time.sleep(2)
    with s3_proxy.fault("delay", delay=0.5):
        time.sleep(4)
    time.sleep(2)
    errors_injected = s3_proxy.errors_sent
    with s3_proxy.fault("closed"):
        outage_started = time.monotonic()
        # A producer that does not retry sees a retriable error, never an acknowledgement.
        plain = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=0, request_timeout_ms=30_000)
        try:
            with pytest.raises(KafkaError) as refused:
                plain.send(topic, value=b"not stored", partition=0).get(timeout=30)
        finally:
            plain.close()
        status, body = ready(broker)
        assert status == 503 and "objects" in body["reasons"], body
        assert time.monotonic() - outage_started < 10, "the checks took longer than the outage"
        time.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
    wait_for(lambda: ready(broker)[0] == 200, "/ready answers 200 again once S3 is back")

    for thread in threads:
        thread.join(4 * TIMEOUT)
    assert errors_injected > 0, "the proxy never answered with an error"
    assert "flush of" in broker.log_text(), "no flush failed: the faults did not reach the write path"
    # KAFKA_STORAGE_ERROR (56), retriable: the flush failed within the request's timeout.
    assert type(refused.value).__name__ == "KafkaStorageError" and refused.value.retriable, refused.value

    assert producing.undelivered == 0 and not producing.failures, producing.failures[:3]
    assert len(producing.acknowledged) == RECORDS
    assert consuming.finished and not consuming.errors, (len(consuming.received), consuming.errors[:3])
    values = [value for _, _, value in consuming.received]
    assert len(values) == len(set(values)) == RECORDS, "a record was read twice"
    assert b"not stored" not in values
    for partition, offset, value in consuming.received:
        assert producing.acknowledged[value] == (partition, offset)
    for partition in range(PARTITIONS):
        offsets = [offset for part, offset, _ in consuming.received if part == partition]
        assert offsets == list(range(len(offsets))), f"partition {partition} has gaps or repeats"
    # The same broker process served it all: it recovered by itself.
    assert broker.process is not None and broker.process.pid == pid and broker.process.poll() is None


def test_a_fetch_that_must_read_s3_while_it_is_down_gets_kafka_storage_error_and_keeps_its_connection(
    broker: BrokerProcess, s3_proxy: FaultProxy
) -> None:
    values = [b"cold-%d" % index for index in range(10)]
    with WireClient(broker.bootstrap, timeout=30) as client:
        assert produce(client, values).error_code == ErrorCode.NONE
    broker.restart()  # a new process: its caches are empty, so the records must come from S3
    with s3_proxy.fault("closed"), WireClient(broker.bootstrap, timeout=60) as client:
        assert fetch(client, 0).error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert client.request(API_VERSIONS, 0, API_VERSIONS.Request()).error_code == ErrorCode.NONE
    with WireClient(broker.bootstrap, timeout=60) as client:
        partition = fetch(client, 0)
    assert partition.error_code == ErrorCode.NONE
    assert [value for _, value in records_of(partition)] == values
