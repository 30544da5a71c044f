"""What the broker's metrics cost on the produce path: broker CPU per record with metrics on and off.

Run: `python -m benchmarks.metrics_cost` (`--records N`, default 20,000; `--rounds R`, default 3;
`--batch-records N`, librdkafka's batch.num.messages, default 1).

1. On/off: R rounds, each starting a broker on the embedded default with `--metrics true` and
   one with `--metrics false` (which goes first alternates by round, so a machine whose load drifts
   favours neither), and sending N records of 100 B with confluent-kafka (acks all,
   linger.ms 5, batch.num.messages N). One record per batch (the default here) makes one record
   per produce request, the worst case for the metrics' share: their cost is per request, batch
   and flush, not per byte. Broker CPU (utime + stime from /proc, all threads) during the sends,
   per record, for every run, then the medians of each side.
2. Estimate: times in this process each metric update of the produce path, per request (request
   counter, duration histogram and byte counters; produce records and bytes), per batch
   (write buffer, batch size) and per flush (flush counters and histograms, the timing wrapper of
   commit_flush), weighted by the requests, batches and flushes that the metrics-on brokers
   counted, against their CPU per request.

Linux only (/proc). The client shares the machine's CPUs with the broker.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from benchmarks.servers import cpu_seconds
from broker.metrics import BrokerStats
from storage.stats import LogStats
from tests.brokerproc import BrokerProcess

TOPIC = "metrics-cost"
REPETITIONS = 200_000
COUNTS = (
    r'streamhouse_requests_total\{api="Produce",version="\d+"\}',
    "streamhouse_segment_writes_total",
    "streamhouse_segment_flushes_total",
)


@dataclass(frozen=True)
class ProduceRun:
    cpu_seconds: float
    counts: tuple[int, ...]  # produce requests, batches, flushes (metrics on only)


def broker_counts(http_port: int) -> tuple[int, ...]:
    """Produce requests, record batches written and flushes, from the broker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as response:
        text = response.read().decode()
    figures = []
    for pattern in COUNTS:
        match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"the broker's /metrics has no {pattern}")
        figures.append(int(float(match.group(1))))
    return tuple(figures)


def produce_run(records: int, batch_records: int, metrics: bool) -> ProduceRun:
    with tempfile.TemporaryDirectory(prefix="streamhouse-metrics-cost-") as data_dir:
        broker = BrokerProcess(Path(data_dir), ["--metrics", "true" if metrics else "false"]).start()
        assert broker.process is not None
        try:
            settings = {"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5}
            producer = Producer({**settings, "batch.num.messages": batch_records})
            producer.produce(TOPIC, value=b"w")  # creates the topic before the measurement
            producer.flush(60)
            before = broker_counts(broker.http_port) if metrics else ()
            cpu_before = cpu_seconds(broker.process.pid)
            for _ in range(records):
                producer.produce(TOPIC, value=b"x" * 100)
                producer.poll(0)
            if producer.flush(120) != 0:
                raise RuntimeError("records left undelivered")
            cpu = cpu_seconds(broker.process.pid) - cpu_before
            after = broker_counts(broker.http_port) if metrics else ()
            del producer
        finally:
            broker.stop()
    return ProduceRun(cpu, tuple(end - start for start, end in zip(before, after, strict=True)))


def update_seconds() -> tuple[float, float, float]:
    """Seconds of metric updates per produce request, per batch and per flush."""
    stats = BrokerStats()
    log_stats = LogStats()

    def per_request() -> None:
        started = time.perf_counter()
        stats.produced(TOPIC, 0, 1, 170)
        stats.request("Produce", 9, time.perf_counter() - started, 240, 60)

    def per_batch() -> None:
        log_stats.batches_written += 1
        stats.batch_records.observe(1)

    def per_flush() -> None:
        started = time.perf_counter()
        log_stats.flushes += 1
        log_stats.flush_bytes.observe(170)
        log_stats.flush_to_commit_seconds.observe(time.perf_counter() - started)

    async def commit_flush() -> None:
        return None

    # The timing wrapper's own cost: the timed call less the same call bare.
    timed = _seconds_per_call(_driver(stats.timed("commit_flush", commit_flush)))
    wrapper = max(timed - _seconds_per_call(_driver(commit_flush)), 0.0)
    return _seconds_per_call(per_request), _seconds_per_call(per_batch), _seconds_per_call(per_flush) + wrapper


def _seconds_per_call(call: Callable[[], None]) -> float:
    return min(timeit.repeat(call, number=REPETITIONS, repeat=5)) / REPETITIONS


def _driver(coroutine_function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Runs a coroutine that never suspends to its end, without an event loop."""

    def run() -> None:
        with contextlib.suppress(StopIteration):
            coroutine_function().send(None)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records of 100 B per run (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs of runs (default 3)")
    parser.add_argument("--batch-records", type=int, default=1, help="librdkafka batch.num.messages (default 1)")
    args = parser.parse_args(argv)
    if min(args.records, args.rounds, args.batch_records) < 1:
        parser.error("--records, --rounds and --batch-records must be at least 1")
    runs: dict[bool, list[ProduceRun]] = {True: [], False: []}
    for round_number in range(1, args.rounds + 1):
        for metrics in (True, False) if round_number % 2 else (False, True):
            run = produce_run(args.records, args.batch_records, metrics)
            runs[metrics].append(run)
            label = "on " if metrics else "off"
            per_record = run.cpu_seconds / args.records * 1e6
            print(
                f"round {round_number} metrics {label}: broker CPU {run.cpu_seconds:.2f} s, {per_record:.1f} µs/record"
            )
    medians = {metrics: statistics.median(run.cpu_seconds for run in runs[metrics]) for metrics in runs}
    print(
        f"median broker CPU per record: on {medians[True] / args.records * 1e6:.1f} µs, "
        f"off {medians[False] / args.records * 1e6:.1f} µs, on/off - 1 = {medians[True] / medians[False] - 1:+.2%}"
    )
    per_request, per_batch, per_flush = update_seconds()
    requests, batches, flushes = (sum(run.counts[index] for run in runs[True]) for index in range(3))
    cpu = sum(run.cpu_seconds for run in runs[True])
    updates = requests * per_request + batches * per_batch + flushes * per_flush
    print(
        f"estimate: metric updates {per_request * 1e6:.2f} µs per request, {per_batch * 1e6:.2f} µs per batch, "
        f"{per_flush * 1e6:.2f} µs per flush; metrics-on runs made {requests:,} produce requests, "
        f"{batches:,} batches, {flushes:,} flushes with {cpu:.2f} s broker CPU: "
        f"updates are {updates / cpu:.2%} of it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
