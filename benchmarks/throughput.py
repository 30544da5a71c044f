"""Produce and consume throughput through a real Kafka client, checked record by record.

One case is (client, record size, acks, partitions, producers). Produce: `producers` threads, each with
its own producer (linger 5 ms, no compression, null keys so batches spread over the partitions), send
`records / producers` copies of one payload; timed from the first send until every delivery report is
in. Any failed report fails the run, and the offsets reported per partition must be exactly 0..n-1.
Consume: one consumer assigned every partition from the beginning; timed from the assignment until
every record reached the application; then each record must carry the next offset of its partition and
the produced value. librdkafka's fetch.queue.backoff.ms is 10 instead of 1,000: it stops fetching while
its local queue holds queued.min.messages and then waits that long, which measured the backoff.

MB = 10^6 bytes of record values (headers and batch framing not counted). Broker CPU is utime + stime
from /proc/<pid>/stat (all threads; clock ticks of 10 ms, so short phases read coarsely). With several
producers the client threads share one Python process: kafka-python's are bound by its GIL.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import confluent_kafka
import kafka
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where it is defined; confluent_kafka.admin re-exports it untyped

from benchmarks.servers import BenchmarkError, Server, cpu_seconds

MB = 1_000_000
GB = 1_000_000_000
CLIENTS = ("confluent", "kafka-python")


@dataclass(frozen=True)
class Case:
    client: str
    record_bytes: int
    acks: str  # "all" or "1"
    partitions: int
    producers: int
    records: int

    @property
    def label(self) -> str:
        return f"{self.client} {self.record_bytes}B acks={self.acks} p={self.partitions} x{self.producers}"


@dataclass
class ThroughputResult:
    case: Case
    produce_seconds: float
    produce_msgs_per_s: float
    produce_mb_per_s: float
    consume_seconds: float
    consume_msgs_per_s: float
    consume_mb_per_s: float
    broker_cpu_s_per_gb_produced: float
    broker_cpu_s_per_gb_consumed: float


def payload_of(size: int) -> bytes:
    return bytes(index % 251 for index in range(size))


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})  # not its info line on destroy
    for future in admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=timeout).values():
        future.result(timeout)  # raises KafkaException on failure
    admin.poll(0)  # serve the client's leftover background events before it is destroyed


class Deliveries:
    """Delivery reports of every producer thread: offsets per partition and errors."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offsets: dict[int, list[int]] = {}
        self.errors: list[str] = []

    def ok(self, partition: int | None, offset: int | None) -> None:
        if partition is None or offset is None or offset < 0:
            self.error(f"delivery report without an offset: partition {partition}, offset {offset}")
            return
        with self.lock:
            self.offsets.setdefault(partition, []).append(offset)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def check(self, topic: str, count: int) -> dict[int, int]:
        """Records delivered per partition, after checking there are `count` with offsets 0..n-1 each."""
        if self.errors:
            raise BenchmarkError(f"{topic}: {len(self.errors)} failed deliveries, first: {self.errors[0]}")
        delivered = sum(len(offsets) for offsets in self.offsets.values())
        if delivered != count:
            raise BenchmarkError(f"{topic}: {delivered} delivery reports for {count} records")
        for partition, offsets in sorted(self.offsets.items()):
            if sorted(offsets) != list(range(len(offsets))):
                raise BenchmarkError(f"{topic}[{partition}]: delivered offsets are not exactly 0..{len(offsets)}")
        return {partition: len(offsets) for partition, offsets in self.offsets.items()}


def confluent_producer(bootstrap: str, acks: str, linger_ms: int) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": linger_ms, "compression.type": "none"})


def confluent_send(producer: Producer, topic: str, value: bytes, on_delivery: Callable[..., None]) -> None:
    """produce() that waits while librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


def produce_confluent(
    bootstrap: str, topic: str, acks: str, payload: bytes, count: int, deliveries: Deliveries, timeout: float
) -> Callable[[], None]:
    producer = confluent_producer(bootstrap, acks, 5)
    producer.list_topics(topic, timeout)  # connect and learn the partitions before the clock starts

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            deliveries.error(str(error))
        else:
            deliveries.ok(message.partition(), message.offset())

    def run() -> None:
        for _ in range(count):
            confluent_send(producer, topic, payload, on_delivery)
            producer.poll(0)
        deadline = time.monotonic() + timeout
        while producer.flush(1.0) > 0:
            if time.monotonic() > deadline:
                deliveries.error(f"{len(producer)} records still undelivered after {timeout:.0f} s")
                return

    return run


def produce_kafka_python(
    bootstrap: str, topic: str, acks: str, payload: bytes, count: int, deliveries: Deliveries, timeout: float
) -> Callable[[], None]:
    producer = kafka.KafkaProducer(
        bootstrap_servers=bootstrap, acks="all" if acks == "all" else int(acks), linger_ms=5, batch_size=65536
    )
    producer.partitions_for(topic)  # connect and learn the partitions before the clock starts

    def on_success(metadata: kafka.producer.future.RecordMetadata) -> None:
        deliveries.ok(metadata.partition, metadata.offset)

    def on_error(error: Exception) -> None:
        deliveries.error(repr(error))

    def run() -> None:
        try:
            for _ in range(count):
                producer.send(topic, payload).add_callback(on_success).add_errback(on_error)
            producer.flush(timeout)
        finally:
            producer.close(timeout)

    return run


def produce(
    server: Server, case: Case, topic: str, payload: bytes, timeout: float
) -> tuple[float, float, dict[int, int]]:
    """Returns (seconds, broker CPU seconds, records delivered per partition)."""
    deliveries = Deliveries()
    maker = produce_confluent if case.client == "confluent" else produce_kafka_python
    shares = [case.records // case.producers + (i < case.records % case.producers) for i in range(case.producers)]
    runs = [maker(server.bootstrap, topic, case.acks, payload, share, deliveries, timeout) for share in shares]
    threads = [threading.Thread(target=run, daemon=True) for run in runs]
    cpu_started = cpu_seconds(server.pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * 2)
        if thread.is_alive():
            raise BenchmarkError(f"{topic}: a producer thread is still running after {timeout * 2:.0f} s")
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.pid) - cpu_started
    return elapsed, cpu, deliveries.check(topic, case.records)


def check_consumed(
    topic: str, payload: bytes, received: list[tuple[int, int, bytes]], expected: dict[int, int]
) -> None:
    """Each (partition, offset, value) must carry the next offset of its partition and `payload`."""
    next_offset: Counter[int] = Counter()
    for partition, offset, value in received:
        if offset != next_offset[partition]:
            raise BenchmarkError(f"{topic}[{partition}]: offset {offset} where {next_offset[partition]} was expected")
        if value != payload:
            raise BenchmarkError(f"{topic}[{partition}]@{offset}: value differs from the produced one")
        next_offset[partition] += 1
    if dict(next_offset) != expected:
        raise BenchmarkError(f"{topic}: consumed per partition {dict(next_offset)}, produced {expected}")


def confluent_consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "streamhouse-benchmark",  # required by librdkafka, never joined
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.queue.backoff.ms": 10,
        }
    )


ItemT = TypeVar("ItemT")


def drain(fetch: Callable[[int], list[ItemT]], topic: str, total: int, stall: float) -> list[ItemT]:
    """Call fetch(records still missing) until `total` records came; fail after `stall` s without any."""
    received: list[ItemT] = []
    last_progress = time.monotonic()
    while len(received) < total:
        items = fetch(total - len(received))
        if items:
            received.extend(items)
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall:
            raise BenchmarkError(f"{topic}: only {len(received)} of {total} records after {stall:.0f} s stalled")
    return received


def consume_confluent(bootstrap: str, topic: str, partitions: int, total: int, stall: float) -> list[Message]:
    consumer = confluent_consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
        # consume() waits for the whole count or the timeout: never ask for more than is left.
        return drain(lambda left: consumer.consume(min(10_000, left), 0.5), topic, total, stall)
    finally:
        consumer.close()


def consume_kafka_python(bootstrap: str, topic: str, partitions: int, total: int, stall: float) -> list[object]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000)
    try:
        consumer.assign([kafka.TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()

        def poll(left: int) -> list[object]:
            batches = consumer.poll(500, max_records=min(10_000, left))
            return [record for records in batches.values() for record in records]

        return drain(poll, topic, total, stall)
    finally:
        consumer.close()


def consume(
    server: Server, case: Case, topic: str, payload: bytes, expected: dict[int, int], stall: float
) -> tuple[float, float]:
    """Read every partition from the beginning until `expected` records arrived: (seconds, broker CPU s)."""
    total = sum(expected.values())
    cpu_started = cpu_seconds(server.pid)
    started = time.perf_counter()
    # The clock covers fetching only: records are checked after it stops.
    if case.client == "confluent":
        messages = consume_confluent(server.bootstrap, topic, case.partitions, total, stall)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_started
        for message in messages:
            if message.error() is not None:
                raise BenchmarkError(f"{topic}: consume error {message.error()}")
        received = [(m.partition() or 0, m.offset() or 0, m.value() or b"") for m in messages]
    else:
        records = consume_kafka_python(server.bootstrap, topic, case.partitions, total, stall)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_started
        received = [(r.partition, r.offset, r.value) for r in records]  # type: ignore[attr-defined]
    check_consumed(topic, payload, received, expected)
    return elapsed, cpu


def run_case(server: Server, case: Case, topic: str, timeout: float) -> ThroughputResult:
    payload = payload_of(case.record_bytes)
    create_topic(server.bootstrap, topic, case.partitions, timeout)
    produce_seconds, cpu_produce, per_partition = produce(server, case, topic, payload, timeout)
    consume_seconds, cpu_consume = consume(server, case, topic, payload, per_partition, timeout)
    volume = case.records * case.record_bytes
    return ThroughputResult(
        case=case,
        produce_seconds=produce_seconds,
        produce_msgs_per_s=case.records / produce_seconds,
        produce_mb_per_s=volume / MB / produce_seconds,
        consume_seconds=consume_seconds,
        consume_msgs_per_s=case.records / consume_seconds,
        consume_mb_per_s=volume / MB / consume_seconds,
        broker_cpu_s_per_gb_produced=cpu_produce / (volume / GB),
        broker_cpu_s_per_gb_consumed=cpu_consume / (volume / GB),
    )
