"""End-to-end throughput of one broker on the embedded default, driven by confluent-kafka (librdkafka).

Run: `python -m benchmarks.throughput` (quick run: `--records-100b 20000 --records-1k 10000`;
`--partitions N` spreads each topic over N partitions; `--rate N` paces the producer at N records a second
instead of as fast as it can; `--json PATH` also writes the figures as JSON; `--metadata postgresql` keeps
the metadata in a throwaway PostgreSQL started from Debian's binaries as the tests start it,
`--metadata postgresql://...` in the empty database of that URL; `--metrics off` runs the broker with
`--metrics false`, to compare the cost of its Prometheus metrics).

It starts its own broker (`python -m broker.cli serve`) on a fresh temporary data folder with the
embedded default: filesystem objects with `--fsync always` and SQLite metadata. `--storage s3` puts the
objects in a new bucket of a moto S3 server the benchmark starts itself (tests/s3server.py);
`--storage s3://bucket/prefix --s3-endpoint URL` uses an S3 service you run. `--broker-arg=--flush-ms=50`
(repeatable) passes a flag to the broker. Compaction is held off during the run so that the flush
objects written can be counted afterwards. Then, for each record
size (200,000 records of 100 B, then 100,000 records of 1 KiB; one new topic per size):

- produce: one Producer with acks=all, linger.ms=5, no compression, null keys (so librdkafka's sticky
  partitioner spreads batches over the partitions), other settings default. Timed from the first
  `produce()` to `flush()` returning with a delivery report for every record; any report carrying
  an error fails the run, and the reported offsets must be exactly 0..n-1 in each partition.
- consume: one Consumer that assigns every partition from the beginning (enable.auto.commit false;
  the group.id librdkafka requires is never used; fetch.queue.backoff.ms 10 instead of 1,000, see
  `consume`). Timed from `assign()` until every record has reached the application; then each record
  must have the next offset of its partition and the produced value, and each partition's high
  watermark must equal the number of records delivered to it.

Figures per size: msg/s and MB/s for both phases (MB = 10^6 bytes of record values, so headers and batch
framing are not counted); p50 and p99 produce latency (librdkafka's per-message latency: from
`produce()` to its delivery report, so it includes linger.ms and the client's queueing); flush objects
PUT per MB produced (objects listed under flush/ after the produce phase, one PutObject each since no
flush reaches the multipart threshold; retried attempts are not counted); the broker process's CPU time
(utime + stime from /proc/<pid>/stat, all threads) during the produce phase per GB (10^9 bytes of
values) produced, and during the consume phase per GB consumed; and the broker's peak RSS (VmHWM from
/proc/<pid>/status) read after that size's consume phase, a peak since the broker started (so the 1 KiB
row includes the 100 B run). CPU times come in clock ticks (10 ms on most systems), so small phases read
coarsely. The client runs on the same machine as the broker and competes with it for the CPUs. Linux
only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where it is defined; confluent_kafka.admin re-exports it untyped

from storage.objects import open_object_store
from tests.brokerproc import BrokerProcess
from tests.pgserver import start_server as start_pg_server
from tests.s3server import S3Server

MB = 1_000_000
GB = 1_000_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CLIENT_VERSION = importlib.metadata.version("confluent-kafka")
FLUSH_PREFIX = "flush/"
NO_COMPACTION_MS = 24 * 3600 * 1000


class BenchmarkError(RuntimeError):
    """The run cannot be trusted: a failed delivery, a lost or duplicated record, a stall."""


@dataclass(frozen=True)
class Storage:
    """Where the benchmarked broker keeps its objects: the broker flags and how to list them from here."""

    description: str
    url: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"

    def broker_args(self) -> list[str]:
        args = ["--storage", self.url, "--s3-region", self.s3_region]
        return [*args, "--s3-endpoint", self.s3_endpoint] if self.s3_endpoint else args

    def count_flush_objects(self) -> int:
        async def count() -> int:
            store = open_object_store(self.url, "never", s3_endpoint=self.s3_endpoint, s3_region=self.s3_region)
            try:
                return len(await store.list(FLUSH_PREFIX))
            finally:
                await store.close()

        return asyncio.run(count())


@dataclass
class SizeResult:
    record_bytes: int
    records: int
    partitions: int
    produce_seconds: float
    produce_msgs_per_s: float
    produce_mb_per_s: float
    produce_p50_ms: float
    produce_p99_ms: float
    flush_objects_put: int
    puts_per_mb: float
    consume_seconds: float
    consume_msgs_per_s: float
    consume_mb_per_s: float
    broker_cpu_seconds_produce: float
    broker_cpu_seconds_consume: float
    broker_cpu_s_per_gb_produced: float
    broker_cpu_s_per_gb_consumed: float
    broker_peak_rss_mib: float


# -- the broker process, seen through /proc ----------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces; count from after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """VmHWM of `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) / 1024
    raise BenchmarkError(f"no VmHWM in /proc/{pid}/status")


# -- the two phases ------------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(timeout)  # raises KafkaException on failure
    admin.poll(0)  # serve the client's leftover background events before it is destroyed


@dataclass
class Produced:
    seconds: float
    broker_cpu_seconds: float
    per_partition: dict[int, int]  # records delivered to each partition
    latencies: list[float]  # seconds from produce() to the delivery report, per record


def produce(pid: int, bootstrap: str, topic: str, payload: bytes, count: int, timeout: float, rate: float) -> Produced:
    """Produce `count` copies of `payload` (`rate` a second, 0: at once), each delivered once at the next offset."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "none",
        }
    )
    producer.list_topics(topic, timeout)  # connect and learn the partitions before the clock starts
    offsets: dict[int, list[int]] = {}
    errors: list[str] = []
    latencies: list[float] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(str(error))
            return
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None or offset < 0:
            errors.append(f"delivery report without an offset: partition {partition}, offset {offset}")
            return
        offsets.setdefault(partition, []).append(offset)
        latency = message.latency()
        if latency is not None:
            latencies.append(latency)

    cpu_started = cpu_seconds(pid)
    started = time.perf_counter()
    for index in range(count):
        if rate > 0:  # paced: wait until this record is due, serving delivery reports meanwhile
            while (due := started + index / rate - time.perf_counter()) > 0:
                producer.poll(due)
        while True:
            try:
                producer.produce(topic, payload, on_delivery=on_delivery)
                break
            except BufferError:  # librdkafka's local queue is full: serve delivery reports, then retry
                producer.poll(0.01)
        producer.poll(0)
    deadline = time.monotonic() + timeout
    while producer.flush(1.0) > 0:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{topic}: {len(producer)} records still undelivered after {timeout:.0f} s")
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_started

    if errors:
        raise BenchmarkError(f"{topic}: {len(errors)} failed delivery reports, first: {errors[0]}")
    delivered = sum(len(partition_offsets) for partition_offsets in offsets.values())
    if delivered != count:
        raise BenchmarkError(f"{topic}: {delivered} delivery reports for {count} records")
    for partition, partition_offsets in sorted(offsets.items()):
        if sorted(partition_offsets) != list(range(len(partition_offsets))):
            raise BenchmarkError(f"{topic}[{partition}]: delivered offsets are not exactly 0..{len(partition_offsets)}")
    per_partition = {partition: len(partition_offsets) for partition, partition_offsets in offsets.items()}
    return Produced(elapsed, cpu, per_partition, latencies)


def consume(
    pid: int,
    bootstrap: str,
    topic: str,
    payload: bytes,
    expected: dict[int, int],
    partitions: int,
    stall_timeout: float,
) -> tuple[float, float]:
    """Read every partition of `topic` from the beginning until `expected` records arrived.

    Returns (seconds, broker CPU seconds)."""
    total = sum(expected.values())
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "streamhouse-throughput-benchmark",  # required by librdkafka, never joined
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # librdkafka stops fetching while its local queue holds queued.min.messages (100,000) and
            # then waits fetch.queue.backoff.ms (1,000 ms by default) before the next fetch: with a broker
            # that serves faster than the client drains, 100 B runs idled ~1 s and measured that backoff.
            "fetch.queue.backoff.ms": 10,
        }
    )
    try:
        consumer.list_topics(topic, stall_timeout)  # connect before the clock starts
        # The clock covers fetching only: records are checked after it stops, so a slow Python loop
        # here cannot make librdkafka's prefetch queue fill up and throttle the fetches.
        received: list[Message] = []
        cpu_started = cpu_seconds(pid)
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
        last_progress = time.monotonic()
        while len(received) < total:
            # consume() waits for the whole count or the timeout: never ask for more than is left.
            messages = consumer.consume(min(10_000, total - len(received)), 0.5)
            if messages:
                received.extend(messages)
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_timeout:
                raise BenchmarkError(
                    f"{topic}: only {len(received)} of {total} records after {stall_timeout:.0f} s without progress"
                )
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_started

        next_offset: Counter[int] = Counter()
        for message in received:
            error = message.error()
            if error is not None:
                raise BenchmarkError(f"{topic}: consume error {error}")
            partition, offset = message.partition(), message.offset()
            assert partition is not None
            if offset != next_offset[partition]:
                raise BenchmarkError(
                    f"{topic}[{partition}]: offset {offset} where {next_offset[partition]} was expected"
                )
            if message.value() != payload:
                raise BenchmarkError(f"{topic}[{partition}]@{offset}: value differs from the produced one")
            next_offset[partition] += 1
        if dict(next_offset) != expected:
            raise BenchmarkError(f"{topic}: consumed per partition {dict(next_offset)}, produced {expected}")
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), stall_timeout)
            if (low, high) != (0, expected.get(partition, 0)):
                raise BenchmarkError(
                    f"{topic}[{partition}]: watermarks ({low}, {high}), expected (0, {expected.get(partition, 0)})"
                )
        return elapsed, cpu
    finally:
        consumer.close()


def percentile_ms(latencies: Sequence[float], fraction: float) -> float:
    if len(latencies) < 2:
        return 1000 * latencies[0] if latencies else float("nan")
    return 1000 * statistics.quantiles(latencies, n=100, method="inclusive")[round(fraction * 100) - 1]


def run_size(
    broker: BrokerProcess,
    storage: Storage,
    record_bytes: int,
    records: int,
    partitions: int,
    timeout: float,
    rate: float,
) -> SizeResult:
    assert broker.process is not None
    pid = broker.process.pid
    topic = f"throughput-{record_bytes}b"
    payload = bytes(index % 251 for index in range(record_bytes))
    create_topic(broker.bootstrap, topic, partitions, timeout)

    objects_before = storage.count_flush_objects()
    produced = produce(pid, broker.bootstrap, topic, payload, records, timeout, rate)
    flush_objects = storage.count_flush_objects() - objects_before
    produce_seconds, cpu_produce = produced.seconds, produced.broker_cpu_seconds
    consume_seconds, cpu_consume = consume(
        pid, broker.bootstrap, topic, payload, produced.per_partition, partitions, timeout
    )

    volume = records * record_bytes
    return SizeResult(
        record_bytes=record_bytes,
        records=records,
        partitions=partitions,
        produce_seconds=produce_seconds,
        produce_msgs_per_s=records / produce_seconds,
        produce_mb_per_s=volume / MB / produce_seconds,
        produce_p50_ms=percentile_ms(produced.latencies, 0.50),
        produce_p99_ms=percentile_ms(produced.latencies, 0.99),
        flush_objects_put=flush_objects,
        puts_per_mb=flush_objects / (volume / MB),
        consume_seconds=consume_seconds,
        consume_msgs_per_s=records / consume_seconds,
        consume_mb_per_s=volume / MB / consume_seconds,
        broker_cpu_seconds_produce=cpu_produce,
        broker_cpu_seconds_consume=cpu_consume,
        broker_cpu_s_per_gb_produced=cpu_produce / (volume / GB),
        broker_cpu_s_per_gb_consumed=cpu_consume / (volume / GB),
        broker_peak_rss_mib=peak_rss_mib(pid),
    )


# -- output --------------------------------------------------------------------------------------


def print_table(results: Sequence[SizeResult]) -> None:
    header = (
        f"{'record':>7} {'records':>9} {'parts':>5} | {'produce msg/s':>13} {'MB/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'PUTs/MB':>7} | "
        f"{'consume msg/s':>13} {'MB/s':>7} | {'CPU s/GB prod':>13} {'CPU s/GB cons':>13} | {'peak RSS MiB':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.record_bytes:>6}B {r.records:>9,} {r.partitions:>5} | "
            f"{r.produce_msgs_per_s:>13,.0f} {r.produce_mb_per_s:>7.2f} "
            f"{r.produce_p50_ms:>7.1f} {r.produce_p99_ms:>7.1f} {r.puts_per_mb:>7.2f} | "
            f"{r.consume_msgs_per_s:>13,.0f} {r.consume_mb_per_s:>7.2f} | "
            f"{r.broker_cpu_s_per_gb_produced:>13.1f} {r.broker_cpu_s_per_gb_consumed:>13.1f} | "
            f"{r.broker_peak_rss_mib:>12.1f}"
        )
    print()
    for r in results:
        print(
            f"{r.record_bytes} B: produce {r.produce_seconds:.2f} s (broker CPU {r.broker_cpu_seconds_produce:.2f} s, "
            f"{r.flush_objects_put} flush objects), "
            f"consume {r.consume_seconds:.2f} s (broker CPU {r.broker_cpu_seconds_consume:.2f} s)"
        )


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "confluent_kafka": CLIENT_VERSION,
        "librdkafka": confluent_kafka.libversion()[0],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def metadata_store(choice: str, stack: contextlib.ExitStack) -> tuple[list[str], str]:
    """The broker's --metadata arguments for a --metadata choice, and its name for the output."""
    if choice == "sqlite":
        return [], "SQLite"
    if choice == "postgresql":
        server = start_pg_server()
        stack.callback(server.stop)
        return ["--metadata", asyncio.run(server.create_database())], "PostgreSQL (throwaway, local, fsync off)"
    if choice.startswith(("postgresql://", "postgres://")):
        return ["--metadata", choice], "PostgreSQL"
    raise SystemExit(f"--metadata {choice!r}: use sqlite, postgresql or a postgresql:// URL")


def open_storage(
    parser: argparse.ArgumentParser, choice: str, data_dir: str, endpoint: str | None, region: str
) -> tuple[Storage, S3Server | None]:
    """The storage `--storage` names, and the moto server started for plain `s3` (to stop afterwards)."""
    if choice == "filesystem":
        return Storage("filesystem objects, fsync always", str(Path(data_dir) / "objects")), None
    if choice == "s3":
        from tests.s3server import start_server

        server = start_server()
        bucket = server.create_bucket()
        storage = Storage(
            f"S3 objects on a {server.kind} server ({server.endpoint}, bucket {bucket})",
            f"s3://{bucket}/benchmark",
            server.endpoint,
            server.region,
        )
        return storage, server
    if choice.startswith("s3://"):
        where = f" at {endpoint}" if endpoint else ""
        return Storage(f"S3 objects in {choice}{where}", choice, endpoint, region), None
    parser.error(f"--storage {choice!r}: use filesystem, s3 or s3://bucket/prefix")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--records-100b", type=int, default=200_000, help="records of 100 B (default 200,000)")
    parser.add_argument("--records-1k", type=int, default=100_000, help="records of 1 KiB (default 100,000)")
    parser.add_argument("--partitions", type=int, default=1, help="partitions of each topic (default 1)")
    parser.add_argument(
        "--rate", type=float, default=0, help="records produced a second (default 0: as fast as the client can)"
    )
    parser.add_argument(
        "--storage",
        default="filesystem",
        help="filesystem (default), s3 (a moto server started here) or s3://bucket/prefix (with --s3-endpoint)",
    )
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint for --storage s3://...")
    parser.add_argument("--s3-region", default="us-east-1", help="S3 region for --storage s3://...")
    parser.add_argument(
        "--broker-arg", action="append", default=[], metavar="FLAG", help="a flag for the broker, e.g. --flush-ms=50"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument(
        "--metadata",
        default="sqlite",
        help="sqlite (default, in the data folder), postgresql (a throwaway server) or a postgresql:// URL",
    )
    parser.add_argument(
        "--metrics",
        choices=("on", "off"),
        default="on",
        help="the broker's Prometheus metrics (its --metrics flag; default on), to measure what they cost",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds without progress before the run fails (default 120)"
    )
    args = parser.parse_args(argv)
    if args.partitions < 1 or args.records_100b < 0 or args.records_1k < 0:
        parser.error("--partitions must be at least 1 and record counts not negative")
    sizes = [(size, count) for size, count in ((100, args.records_100b), (1024, args.records_1k)) if count > 0]

    with tempfile.TemporaryDirectory(prefix="streamhouse-throughput-") as data_dir, contextlib.ExitStack() as stack:
        storage, s3_server = open_storage(parser, args.storage, data_dir, args.s3_endpoint, args.s3_region)
        if s3_server is not None:
            stack.callback(s3_server.stop)
        metadata_args, metadata_name = metadata_store(args.metadata, stack)
        broker_args = [
            "--metrics-port", "-1", "--compaction-interval-ms", str(NO_COMPACTION_MS),
            "--metrics", "true" if args.metrics == "on" else "false",
            *storage.broker_args(), *metadata_args, *args.broker_arg,
        ]  # fmt: skip
        results, code = run_broker(
            Path(data_dir), broker_args, storage, metadata_name, sizes, args.partitions, args.timeout, args.rate
        )
    if results is None:
        return 1

    print()
    print_table(results)
    if args.json is not None:
        settings = {
            "broker": f"{storage.description}, {metadata_name} metadata",
            "broker_args": args.broker_arg,
            "metrics": args.metrics,
            "producer": {"acks": "all", "linger.ms": 5, "compression.type": "none"},
            "consumer": {"enable.auto.commit": False, "fetch.queue.backoff.ms": 10},
            "partitions": args.partitions,
            "rate": args.rate,
        }
        document = {
            "environment": environment(),
            "settings": settings,
            "results": [asdict(result) for result in results],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if code == 0 else 1


def run_broker(
    data_dir: Path,
    broker_args: list[str],
    storage: Storage,
    metadata_name: str,
    sizes: Sequence[tuple[int, int]],
    partitions: int,
    timeout: float,
    rate: float,
) -> tuple[list[SizeResult] | None, int]:
    """Each size against one broker; returns the results (None if the run failed) and the broker's exit code."""
    broker = BrokerProcess(data_dir, broker_args).start()
    assert broker.process is not None
    print(
        f"broker pid {broker.process.pid} on {broker.bootstrap}, data in {data_dir} "
        f"({storage.description}, {metadata_name}; flags {' '.join(broker_args)}); confluent-kafka {CLIENT_VERSION}, "
        f"librdkafka {confluent_kafka.libversion()[0]}, {os.cpu_count()} CPUs",
        flush=True,
    )
    try:
        results = [run_size(broker, storage, size, count, partitions, timeout, rate) for size, count in sizes]
    except (BenchmarkError, KafkaException) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        print("broker log (last lines):\n" + "".join(broker.output[-30:]), file=sys.stderr)
        broker.stop()
        return None, 1
    code = broker.stop()
    if code != 0:
        print(f"broker exited with code {code}:\n" + "".join(broker.output[-30:]), file=sys.stderr)
    return results, code


if __name__ == "__main__":
    sys.exit(main())
