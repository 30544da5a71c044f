"""Stock clients against Kafka 4's versions: confluent-kafka's metrics push (KIP-714, on by default)
logs no error, whether the broker subscribes it to nothing or to everything (then its pushes are
counted on /metrics); a confluent-kafka transaction commits and aborts through the verified produce
path (librdkafka adds its partitions with AddPartitionsToTxn: transactions v1); kafka-python and
aiokafka and kafkajs still negotiate versions they know and round-trip records."""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def scrape(broker: BrokerProcess) -> str:
    url = f"http://127.0.0.1:{broker.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        text: str = response.read().decode()
    return text


def counted(text: str, metric: str, labels: str) -> float:
    found = re.search(rf"^{re.escape(metric)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(params=[0, 1000], ids=["subscribed-to-nothing", "pushing-every-second"])
def telemetry_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BrokerProcess, int]]:
    interval = int(request.param)
    process = BrokerProcess(tmp_path, ("--client-telemetry-push-interval-ms", str(interval))).start()
    yield process, interval
    assert process.stop() == 0, process.log_text()[-4000:]


def test_confluent_kafka_metrics_push_logs_no_errors(telemetry_broker: tuple[BrokerProcess, int]) -> None:
    from confluent_kafka import Producer

    broker, interval = telemetry_broker
    collected = _Collected()
    logger = logging.getLogger(f"librdkafka-telemetry-{interval}")
    logger.addHandler(collected)
    logger.setLevel(logging.DEBUG)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "enable.metrics.push": True,
            "debug": "telemetry",
            "logger": logger,
        }
    )
    producer.produce("telemetry", b"value")
    assert producer.flush(TIMEOUT) == 0
    deadline = time.monotonic() + TIMEOUT
    while True:
        producer.poll(0.2)
        text = scrape(broker)
        asked = counted(text, "streamhouse_requests_total", 'api="GetTelemetrySubscriptions",version="0"')
        pushed = counted(text, "streamhouse_client_telemetry_pushes_total", 'outcome="none"')
        if asked >= 1 and (interval == 0 or pushed >= 1):
            break
        assert time.monotonic() < deadline, f"asked {asked} times for subscriptions, pushed {pushed} times"
    del producer  # closing it pushes once more, terminating
    problems = [r.getMessage() for r in collected.records if r.levelno >= logging.WARNING]
    assert problems == []
    assert any("telemetry" in r.getMessage().lower() for r in collected.records)  # the debug context was on
    text = scrape(broker)
    errors = re.findall(r'^streamhouse_client_telemetry_pushes_total\{outcome="(?!none)[^"]*"\} (\S+)$', text, re.M)
    assert errors == []
    if interval == 0:
        assert counted(text, "streamhouse_client_telemetry_pushes_total", 'outcome="none"') == 0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path, ("--num-partitions", "1")).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_confluent_kafka_transactions_commit_and_abort(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "kafka4-tx"})
    producer.init_transactions(TIMEOUT)
    for value, commit in ((b"kept", True), (b"dropped", False), (b"kept too", True)):
        producer.begin_transaction()
        producer.produce("txn", value)
        if commit:
            producer.commit_transaction(TIMEOUT)
        else:
            producer.abort_transaction(TIMEOUT)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "kafka4-reader",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(["txn"])
    got: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 2 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert got == [b"kept", b"kept too"]


def _kafka_python_round_trip(bootstrap: str) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in (b"a", b"b"):
        producer.send("old-clients", value).get(timeout=TIMEOUT)
    producer.close()
    consumer = KafkaConsumer(
        "old-clients", bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5_000
    )
    values = [record.value for record in consumer]
    consumer.close()
    return values


async def _aiokafka_round_trip(bootstrap: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in (b"c", b"d"):
            await producer.send_and_wait("old-clients-aio", value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("old-clients-aio", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches: Any = await consumer.getmany(timeout_ms=5_000)
        return [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()


def test_older_clients_negotiate_down(broker: BrokerProcess) -> None:
    import asyncio

    from compat.clients import KafkaJS, Message

    assert _kafka_python_round_trip(broker.bootstrap) == [b"a", b"b"]
    assert asyncio.run(_aiokafka_round_trip(broker.bootstrap)) == [b"c", b"d"]
    sent = [Message(None, b"e"), Message(b"k", b"f")]
    KafkaJS().produce(broker.bootstrap, "old-clients-js", sent, "none", idempotent=True)
    read = KafkaJS().read(broker.bootstrap, "old-clients-js", [0], len(sent))
    assert [m.content() for m in read] == sent


def test_transactions_v2_over_raw_frames(broker: BrokerProcess) -> None:
    """What a transactions-v2 client (the Java client 4.x) sends, frame by frame over a socket:
    InitProducerId v5, Produce v12 without AddPartitionsToTxn, EndTxn v5, then Fetch v17 by topic id."""
    from streamhouse.protocol.apis.end_txn import END_TXN
    from streamhouse.protocol.apis.fetch import FETCH
    from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
    from streamhouse.protocol.apis.metadata import METADATA
    from streamhouse.protocol.apis.produce import PRODUCE
    from streamhouse.protocol.records import Record, build_batch, iter_batches, iter_records
    from tests.wireclient import WireClient, produce_body

    with WireClient(broker.bootstrap) as client:
        topic = METADATA.Request.MetadataRequestTopic(name="tv2")
        [described] = client.request(METADATA, 12, METADATA.Request(topics=[topic])).topics
        init = INIT_PRODUCER_ID.Request(transactional_id="tv2", transaction_timeout_ms=60_000)
        producer = client.request(INIT_PRODUCER_ID, 5, init)
        pid, epoch = producer.producer_id, producer.producer_epoch
        records = [Record(key=None, value=b"v2")]
        batch = build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=0, is_transactional=True)
        body = produce_body("tv2", batch)
        body.transactional_id = "tv2"
        [answer] = client.request(PRODUCE, 12, body).responses[0].partition_responses
        assert (answer.error_code, answer.base_offset) == (0, 0), answer.error_message
        ended = client.request(
            END_TXN, 5, END_TXN.Request(transactional_id="tv2", producer_id=pid, producer_epoch=epoch, committed=True)
        )
        assert (ended.error_code, ended.producer_id, ended.producer_epoch) == (0, pid, epoch + 1)
        Fetched = FETCH.Request.FetchTopic
        wanted = Fetched(
            topic_id=described.topic_id,
            partitions=[Fetched.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)],
        )
        request = FETCH.Request(max_wait_ms=0, min_bytes=0, isolation_level=1, topics=[wanted])
        [partition] = client.request(FETCH, 17, request).responses[0].partitions
        assert (partition.error_code, partition.last_stable_offset) == (0, 2)  # the record, then the marker
        data = [
            record.value
            for header, view in iter_batches(partition.records)
            if not header.is_control
            for record in iter_records(header, view)
        ]
        assert data == [b"v2"]
