"""Produce and consume throughput through a real Kafka client, checked record by record.

Run alone: `python -m benchmarks.throughput` (quick run: `--records-100b 20000 --records-1k 10000`)
starts one StreamHouse broker and runs one confluent-kafka case per record size (200,000 records of
100 B, then 100,000 of 1 KiB; acks=all, one producer, a new topic each); `streamhouse bench` runs the
whole matrix side by side with Tansu. Options: `--partitions N`; `--rate N` paces the producer at N
records a second instead of as fast as it can; `--json PATH` also writes the figures; and the broker's
(benchmarks/servers.py, the same in `streamhouse bench`): `--storage s3` (a moto server started here)
or `--storage s3://bucket/prefix --s3-endpoint URL`, `--metadata postgresql` (a throwaway server) or
`--metadata postgresql://...` (an empty database), `--metrics off`, `--broker-arg=--flush-ms=50`
(repeatable). It prints a row per size: msg/s and MB/s of both phases, p50/p99 produce latency,
flush objects PUT per MB, broker CPU s/GB and peak RSS.

One case is (client, record size, acks, partitions, producers, rate). Produce: `producers` threads,
each with its own producer (linger 5 ms, no compression, null keys so batches spread over the
partitions), send `records / producers` copies of one payload, as fast as they can or together at
`rate` records a second; timed from the first send until every delivery report is in. Any failed
report fails the run, and the offsets reported per partition must be exactly 0..n-1. Produce latency
runs from the send to its delivery report (for confluent-kafka librdkafka's per-message latency, so it
includes linger.ms and the client's queueing); p50/p99 over every record. PUTs per MB: the flush
objects the broker stored during the produce phase (listed under flush/, retried attempts not
counted) per MB produced, StreamHouse only.
Consume: one consumer assigned every partition from the beginning; timed from the assignment until
every record reached the application, with the cyclic garbage collector paused (the read keeps every
record for the check); then each record must carry the next offset of its partition and the produced
value. librdkafka's fetch.queue.backoff.ms is 10 instead of 1,000: it stops fetching while
its local queue holds queued.min.messages and then waits that long, which measured the backoff.
Raw Fetch: the same topic read once more by benchmarks/fetch_reader.py, which does no per-record work,
so the figure is what the broker serves, not what a client library takes in; it ends at exactly the
offsets produced.

MB = 10^6 bytes of record values (headers and batch framing not counted). Broker CPU is utime + stime
from /proc/<pid>/stat (all threads; clock ticks of 10 ms, so short phases read coarsely); peak RSS is
VmHWM after the consume phase, a peak since the broker started. With several producers the client
threads share one Python process: kafka-python's are bound by its GIL. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Generic, TypeVar

import confluent_kafka
import kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where it is defined; confluent_kafka.admin re-exports it untyped

from benchmarks import cclient
from benchmarks.fetch_reader import read_topic
from benchmarks.servers import (
    PLAINTEXT,
    BenchmarkError,
    Server,
    StreamHouseServer,
    StreamHouseSetup,
    add_streamhouse_options,
    cpu_seconds,
    peak_rss_mib,
)

MB = 1_000_000
GB = 1_000_000_000
CLIENTS = ("c", "confluent", "kafka-python")
CLIENT_VERSION = importlib.metadata.version("confluent-kafka")
Received = list[tuple[int, int, bytes]]  # (partition, offset, value) of every record read


@dataclass(frozen=True)
class Case:
    client: str
    record_bytes: int
    acks: str  # "all" or "1"
    partitions: int
    producers: int
    records: int
    rate: float = 0  # records a second over all producers, 0: as fast as they can

    @property
    def label(self) -> str:
        paced = f" at {self.rate:,.0f}/s" if self.rate else ""
        return f"{self.client} {self.record_bytes}B acks={self.acks} p={self.partitions} x{self.producers}{paced}"


@dataclass
class ThroughputResult:
    case: Case
    produce_seconds: float
    produce_msgs_per_s: float
    produce_mb_per_s: float
    produce_p50_ms: float
    produce_p99_ms: float
    flush_objects_put: int | None  # None: a broker that stores no flush objects
    puts_per_mb: float | None
    consume_seconds: float
    consume_msgs_per_s: float
    consume_mb_per_s: float
    broker_cpu_s_per_gb_produced: float
    broker_cpu_s_per_gb_consumed: float
    broker_peak_rss_mib: float
    raw_fetch_msgs_per_s: float  # the same topic read again by benchmarks/fetch_reader.py
    broker_cpu_s_per_gb_raw_fetch: float


def payload_of(size: int) -> bytes:
    return bytes(index % 251 for index in range(size))


def create_topic(
    bootstrap: str, topic: str, partitions: int, timeout: float = 60.0, security: Mapping[str, str] = PLAINTEXT
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5, **security})  # log_level: no info on destroy
    for future in admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=timeout).values():
        future.result(timeout)  # raises KafkaException on failure
    admin.poll(0)  # serve the client's leftover background events before it is destroyed


class Deliveries:
    """Delivery reports of every producer thread: offsets per partition, latencies and errors."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offsets: dict[int, list[int]] = {}
        self.latencies: list[float] = []  # seconds from the send to the delivery report
        self.errors: list[str] = []

    def ok(self, partition: int | None, offset: int | None, latency: float | None) -> None:
        if partition is None or offset is None or offset < 0:
            self.error(f"delivery report without an offset: partition {partition}, offset {offset}")
            return
        with self.lock:
            self.offsets.setdefault(partition, []).append(offset)
            if latency is not None:
                self.latencies.append(latency)

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


def confluent_producer(bootstrap: str, acks: str, linger_ms: int, security: Mapping[str, str] = PLAINTEXT) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": linger_ms, "compression.type": "none", **security}
    )


class DeliveryPoller:
    """Serves a confluent-kafka producer's delivery reports from a thread of its own, blocked in poll().

    Pacing with poll(wait) spins: confluent-kafka truncates the timeout to whole milliseconds, so every
    wait under 1 ms is poll(0) in a loop, a whole CPU taken from the broker on the same machine. A paced
    sender sleeps instead, and this thread hands each report over as soon as librdkafka has it.
    """

    POLL_SECONDS = 0.05  # only how soon the thread notices it should stop

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            self.producer.poll(self.POLL_SECONDS)

    def __enter__(self) -> DeliveryPoller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()


def sleep_until(due: float) -> None:
    """Sleep until perf_counter() reaches `due` (at once if it has)."""
    if (wait := due - time.perf_counter()) > 0:
        time.sleep(wait)


def confluent_send(producer: Producer, topic: str, value: bytes, on_delivery: Callable[..., None]) -> None:
    """produce() that waits while librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


@dataclass(frozen=True)
class ProducerShare:
    """What one producer thread sends: `count` copies of `payload`, `rate` a second (0: as fast as it can)."""

    bootstrap: str
    topic: str
    acks: str
    payload: bytes
    count: int
    rate: float
    deliveries: Deliveries
    timeout: float
    security: Mapping[str, str]  # the listener's client settings (confluent-kafka only)


def produce_confluent(share: ProducerShare) -> Callable[[], None]:
    topic, deliveries, timeout = share.topic, share.deliveries, share.timeout
    producer = confluent_producer(share.bootstrap, share.acks, 5, share.security)
    producer.list_topics(topic, timeout)  # connect and learn the partitions before the clock starts

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            deliveries.error(str(error))
        else:
            deliveries.ok(message.partition(), message.offset(), message.latency())

    def run() -> None:
        started = time.perf_counter()
        if share.rate > 0:
            with DeliveryPoller(producer):
                for index in range(share.count):
                    sleep_until(started + index / share.rate)
                    confluent_send(producer, topic, share.payload, on_delivery)
        else:
            for _ in range(share.count):
                confluent_send(producer, topic, share.payload, on_delivery)
                producer.poll(0)
        deadline = time.monotonic() + timeout
        while producer.flush(1.0) > 0:
            if time.monotonic() > deadline:
                deliveries.error(f"{len(producer)} records still undelivered after {timeout:.0f} s")
                return

    return run


def produce_kafka_python(share: ProducerShare) -> Callable[[], None]:
    acks = "all" if share.acks == "all" else int(share.acks)
    producer = kafka.KafkaProducer(bootstrap_servers=share.bootstrap, acks=acks, linger_ms=5, batch_size=65536)
    producer.partitions_for(share.topic)  # connect and learn the partitions before the clock starts

    def on_success(sent: float, metadata: kafka.producer.future.RecordMetadata) -> None:
        share.deliveries.ok(metadata.partition, metadata.offset, time.perf_counter() - sent)

    def on_error(error: Exception) -> None:
        share.deliveries.error(repr(error))

    def run() -> None:
        try:
            started = time.perf_counter()
            for index in range(share.count):
                if share.rate > 0:  # kafka-python delivers from its own thread, so sleeping is enough
                    sleep_until(started + index / share.rate)
                future = producer.send(share.topic, share.payload)
                future.add_callback(on_success, time.perf_counter()).add_errback(on_error)
            producer.flush(share.timeout)
        finally:
            producer.close(share.timeout)

    return run


def produce(
    server: Server, case: Case, topic: str, payload: bytes, timeout: float
) -> tuple[float, float, dict[int, int], list[float]]:
    """Returns (seconds, broker CPU seconds, records delivered per partition, latencies in seconds)."""
    plaintext_only(server, case)
    counts = [case.records // case.producers + (i < case.records % case.producers) for i in range(case.producers)]
    if case.client == "c":
        cpu_started = cpu_seconds(server.pid)
        produced = cclient.produce(server.bootstrap, topic, len(payload), counts, case.acks, timeout)
        cpu = cpu_seconds(server.pid) - cpu_started
        return produced.seconds, cpu, produced.per_partition, produced.latencies
    deliveries = Deliveries()
    maker = produce_confluent if case.client == "confluent" else produce_kafka_python
    rate = case.rate / case.producers
    runs = [
        maker(
            ProducerShare(
                server.bootstrap, topic, case.acks, payload, count, rate, deliveries, timeout, server.security
            )
        )
        for count in counts
    ]
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
    return elapsed, cpu, deliveries.check(topic, case.records), deliveries.latencies


def plaintext_only(server: Server, case: Case) -> None:
    """Only the confluent-kafka cases take a listener's client settings (TLS)."""
    if server.security and case.client != "confluent":
        raise BenchmarkError(f"{case.client} cases run on plaintext listeners only")


def percentile_ms(latencies: Sequence[float], fraction: float) -> float:
    if len(latencies) < 2:
        return 1000 * latencies[0] if latencies else float("nan")
    return 1000 * statistics.quantiles(latencies, n=100, method="inclusive")[round(fraction * 100) - 1]


def check_consumed(topic: str, payload: bytes, received: Received, expected: dict[int, int]) -> None:
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


def confluent_consumer(bootstrap: str, security: Mapping[str, str] = PLAINTEXT) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "streamhouse-benchmark",  # required by librdkafka, never joined
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.queue.backoff.ms": 10,
            **security,
        }
    )


ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Reader(Generic[ItemT]):
    """A connected consumer's timed read, and what turns the records it returned into `Received`.

    The two are apart so that the clock stops as the last record reaches the application: turning
    the records into tuples is client-side work, the same with either broker.
    """

    read: Callable[[], list[ItemT]]
    unpack: Callable[[list[ItemT]], Received]


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


@contextmanager
def confluent_reader(
    bootstrap: str, topic: str, partitions: int, total: int, stall: float, security: Mapping[str, str] = PLAINTEXT
) -> Iterator[Reader[Message]]:
    """A connected consumer's read: assign every partition from the beginning, drain `total` records."""
    consumer = confluent_consumer(bootstrap, security)
    try:
        consumer.list_topics(topic, stall)  # connect before the clock starts

        def read() -> list[Message]:
            consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
            # consume() waits for the whole count or the timeout: never ask for more than is left.
            return drain(lambda left: consumer.consume(min(10_000, left), 0.5), topic, total, stall)

        def unpack(messages: list[Message]) -> Received:
            for message in messages:
                if message.error() is not None:
                    raise BenchmarkError(f"{topic}: consume error {message.error()}")
            return [(m.partition() or 0, m.offset() or 0, m.value() or b"") for m in messages]

        yield Reader(read, unpack)
    finally:
        consumer.close()


@contextmanager
def kafka_python_reader(
    bootstrap: str, topic: str, partitions: int, total: int, stall: float
) -> Iterator[Reader[kafka.consumer.fetcher.ConsumerRecord]]:
    """The same with kafka-python."""
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000)
    try:
        consumer.partitions_for_topic(topic)  # connect before the clock starts

        def poll(left: int) -> list[kafka.consumer.fetcher.ConsumerRecord]:
            batches = consumer.poll(500, max_records=min(10_000, left))
            return [record for records in batches.values() for record in records]

        def read() -> list[kafka.consumer.fetcher.ConsumerRecord]:
            consumer.assign([kafka.TopicPartition(topic, p) for p in range(partitions)])
            consumer.seek_to_beginning()
            return drain(poll, topic, total, stall)

        def unpack(records: list[kafka.consumer.fetcher.ConsumerRecord]) -> Received:
            return [(r.partition, r.offset, r.value) for r in records]

        yield Reader(read, unpack)
    finally:
        consumer.close()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: references still free what they stop holding.

    A timed read keeps every record it reads, for the check after the clock stops. The collector's
    passes over that growing list are work that a consumer that handles and drops each record does
    not do.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def consume(
    server: Server, case: Case, topic: str, payload: bytes, expected: dict[int, int], stall: float
) -> tuple[float, float]:
    """Read every partition from the beginning until `expected` records arrived: (seconds, broker CPU s)."""
    plaintext_only(server, case)
    if case.client == "c":
        cpu_started = cpu_seconds(server.pid)
        seconds = cclient.consume(server.bootstrap, topic, len(payload), expected, case.partitions, stall)
        return seconds, cpu_seconds(server.pid) - cpu_started
    reader = (
        functools.partial(confluent_reader, security=server.security)
        if case.client == "confluent"
        else kafka_python_reader
    )
    with reader(server.bootstrap, topic, case.partitions, sum(expected.values()), stall) as timed_reader:
        # The clock covers assigning and fetching only: records are unpacked and checked after it stops.
        cpu_started = cpu_seconds(server.pid)
        started = time.perf_counter()
        with cyclic_gc_paused():
            records = timed_reader.read()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_started
    check_consumed(topic, payload, timed_reader.unpack(records), expected)
    return elapsed, cpu


def run_case(server: Server, case: Case, topic: str, timeout: float) -> ThroughputResult:
    payload = payload_of(case.record_bytes)
    create_topic(server.bootstrap, topic, case.partitions, timeout)
    objects_before = server.flush_objects()
    produce_seconds, cpu_produce, per_partition, latencies = produce(server, case, topic, payload, timeout)
    objects_after = server.flush_objects()
    flush_objects = None if objects_before is None or objects_after is None else objects_after - objects_before
    consume_seconds, cpu_consume = consume(server, case, topic, payload, per_partition, timeout)
    peak_rss = peak_rss_mib(server.pid)
    raw = read_topic(server, topic, per_partition, timeout)
    volume = case.records * case.record_bytes
    return ThroughputResult(
        case=case,
        produce_seconds=produce_seconds,
        produce_msgs_per_s=case.records / produce_seconds,
        produce_mb_per_s=volume / MB / produce_seconds,
        produce_p50_ms=percentile_ms(latencies, 0.50),
        produce_p99_ms=percentile_ms(latencies, 0.99),
        flush_objects_put=flush_objects,
        puts_per_mb=None if flush_objects is None else flush_objects / (volume / MB),
        consume_seconds=consume_seconds,
        consume_msgs_per_s=case.records / consume_seconds,
        consume_mb_per_s=volume / MB / consume_seconds,
        broker_cpu_s_per_gb_produced=cpu_produce / (volume / GB),
        broker_cpu_s_per_gb_consumed=cpu_consume / (volume / GB),
        broker_peak_rss_mib=peak_rss,
        raw_fetch_msgs_per_s=raw.records / raw.seconds,
        broker_cpu_s_per_gb_raw_fetch=raw.broker_cpu_seconds / (volume / GB),
    )


# -- `python -m benchmarks.throughput`: one broker, one case per record size --------------------


def print_table(results: Sequence[ThroughputResult]) -> None:
    header = (
        f"{'record':>7} {'records':>9} {'parts':>5} | {'produce msg/s':>13} {'MB/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'PUTs/MB':>7} | "
        f"{'consume msg/s':>13} {'MB/s':>7} | {'raw Fetch msg/s':>15} | {'CPU s/GB prod':>13} {'CPU s/GB cons':>13} | "
        f"{'peak RSS MiB':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.case.record_bytes:>6}B {r.case.records:>9,} {r.case.partitions:>5} | "
            f"{r.produce_msgs_per_s:>13,.0f} {r.produce_mb_per_s:>7.2f} "
            f"{r.produce_p50_ms:>7.1f} {r.produce_p99_ms:>7.1f} {r.puts_per_mb or 0:>7.2f} | "
            f"{r.consume_msgs_per_s:>13,.0f} {r.consume_mb_per_s:>7.2f} | {r.raw_fetch_msgs_per_s:>15,.0f} | "
            f"{r.broker_cpu_s_per_gb_produced:>13.1f} {r.broker_cpu_s_per_gb_consumed:>13.1f} | "
            f"{r.broker_peak_rss_mib:>12.1f}"
        )
    print()
    for r in results:
        print(
            f"{r.case.record_bytes} B: produce {r.produce_seconds:.2f} s ({r.flush_objects_put} flush objects), "
            f"consume {r.consume_seconds:.2f} s"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--records-100b", type=int, default=200_000, help="records of 100 B (default 200,000)")
    add("--records-1k", type=int, default=100_000, help="records of 1 KiB (default 100,000)")
    add("--partitions", type=int, default=1, help="partitions of each topic (default 1)")
    add("--rate", type=float, default=0, help="records produced a second (default 0: as fast as the client can)")
    add("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    add("--timeout", type=float, default=120.0, help="seconds without progress before the run fails (default 120)")
    add_streamhouse_options(parser)
    return parser


def run_sizes(server: StreamHouseServer, cases: Sequence[Case], timeout: float) -> list[ThroughputResult] | None:
    """Each case against `server`; None (after printing why and the broker's last lines) if one failed."""
    try:
        return [run_case(server, case, f"throughput-{case.record_bytes}b", timeout) for case in cases]
    except (BenchmarkError, KafkaException) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        print("broker log (last lines):\n" + "".join(server.process.output[-30:]), file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup = StreamHouseSetup.from_args(args)
    if problem := setup.check():
        parser.error(problem)
    if args.partitions < 1 or args.records_100b < 0 or args.records_1k < 0 or args.rate < 0:
        parser.error("--partitions must be at least 1, record counts and --rate not negative")
    cases = [
        Case("confluent", size, "all", args.partitions, 1, count, args.rate)
        for size, count in ((100, args.records_100b), (1024, args.records_1k))
        if count > 0
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="streamhouse-throughput-") as folder, ExitStack() as stack:
            server = setup.start(Path(folder), stack)
            print(
                f"broker pid {server.pid} on {server.bootstrap}, data in {folder} ({server.description}; "
                f"flags {' '.join(server.extra_args)}); confluent-kafka {CLIENT_VERSION}, "
                f"librdkafka {confluent_kafka.libversion()[0]}, {os.cpu_count()} CPUs",
                flush=True,
            )
            results = run_sizes(server, cases, args.timeout)
    except BenchmarkError as exc:  # the broker did not start or exited with an error
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    if results is None:
        return 1
    print()
    print_table(results)
    if args.json is not None:
        document = {"broker": server.description, "settings": vars(args) | {"json": str(args.json)}}
        args.json.write_text(json.dumps(document | {"results": [asdict(r) for r in results]}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
