"""What the broker's metric updates cost on the produce path: metrics on against metrics off.

Run: `python -m benchmarks.metrics_cost`. Two measurements, both on the embedded default broker
(filesystem objects, SQLite), each broker new with a new one-partition topic:

1. Throughput (`--rounds R`, default 5; `--records-100b`, `--records-1k`): the throughput benchmark's
   produce case (benchmarks/throughput.py: confluent-kafka, acks=all, linger 5 ms, one producer) with
   `--metrics true` and with `--metrics false`, which one goes first alternating by round. Each run
   prints msg/s and broker CPU per record; then the medians and each round's on/off throughput ratio.
   The metrics-on runs also count, from the broker's /metrics, the records per Produce request.
   Client and broker share the machine's CPUs and single runs vary by tens of percent, so this part
   shows the order of magnitude, not a 1% difference.
2. Instructions (`--requests N`, default 200; needs valgrind): the broker under callgrind, counting
   only while one connection sends N identical pre-encoded Produce requests (acks=all), each after the
   previous answer, following WARM_UP_REQUESTS uncounted ones; with metrics on, then off, `--pairs`
   times (default 3). Instruction counts move far less than times do, but not nothing: how many
   event loop iterations and socket reads a request takes still depends on timing, by up to about
   1% of a large request's instructions between two runs, so each shape prints every pair and
   the median. The request shapes: for each record size, the median records per request part 1
   measured (or `--shapes 2200x100,960x1024`, records x bytes), and one record of 100 B, the worst
   case, as metric updates cost per request, not per record. Each prints instructions per request
   of the event loop thread (requests, metric updates and the write path's bookkeeping run there:
   it bounds throughput) and of the whole process, on, off and on/off - 1. Heartbeats and
   compaction are switched off here, so that their timers do not turn valgrind's slowness into
   instructions.

The storage layer's own counters (LogStats: a few per flush and per batch) are kept in both modes,
so neither part includes them. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.replay import check_produce_response, produce_request
from benchmarks.servers import NO_COMPACTION_MS, BenchmarkError, StreamHouseServer, StreamHouseSetup
from benchmarks.throughput import Case, create_topic, payload_of, produce
from tests.brokerproc import BrokerProcess

TOPIC = "metrics-cost"
TIMEOUT_S = 120.0
WARM_UP_REQUESTS = 50  # codecs compile and caches fill on first use
VALGRIND_START_TIMEOUT_S = 600.0
HOUR_MS = 3_600_000
WORST_CASE = (1, 100)  # one record of 100 B per request
PRODUCE_REQUESTS = re.compile(r'^streamhouse_requests_total\{api="Produce",version="\d+"\} (\S+)$', re.MULTILINE)
CALLGRIND_TOTAL = re.compile(r"^(?:summary|totals): (\d+)$", re.MULTILINE)
_SIZE = struct.Struct(">i")


@dataclass(frozen=True)
class ProduceRun:
    msgs_per_s: float
    cpu_us_per_record: float
    records_per_request: float | None  # metrics-on runs only


@dataclass(frozen=True)
class Instructions:
    loop: float  # per request, the event loop thread
    process: float  # per request, every thread


def produce_requests(http_port: int) -> int:
    """Produce requests the broker has answered, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as response:
        return int(sum(float(count) for count in PRODUCE_REQUESTS.findall(response.read().decode())))


def throughput_run(record_bytes: int, records: int, metrics: bool) -> ProduceRun:
    # The metrics-on broker serves HTTP (a later --metrics-port wins) for the request count.
    http = ("--metrics-port", "0") if metrics else ()
    setup = StreamHouseSetup(metrics="on" if metrics else "off", broker_args=http)
    with tempfile.TemporaryDirectory(prefix="streamhouse-metrics-cost-") as folder, ExitStack() as stack:
        server: StreamHouseServer = setup.start(Path(folder), stack)
        create_topic(server.bootstrap, TOPIC, 1, TIMEOUT_S)
        before = produce_requests(server.process.http_port) if metrics else 0
        case = Case("confluent", record_bytes, "all", 1, 1, records)
        seconds, cpu, _, _ = produce(server, case, TOPIC, payload_of(record_bytes), TIMEOUT_S)
        requests = produce_requests(server.process.http_port) - before if metrics else 0
    return ProduceRun(records / seconds, cpu / records * 1e6, records / requests if requests else None)


def callgrind_totals(out_file: Path) -> dict[int, int]:
    """Instructions per thread number from callgrind's first dump (`<out_file>.1-<thread>`)."""
    totals = {}
    for path in sorted(out_file.parent.glob(f"{out_file.name}.1-*")):
        match = CALLGRIND_TOTAL.search(path.read_text(errors="replace"))
        if match is None:
            raise BenchmarkError(f"{path} has no instruction total")
        totals[int(path.name.rsplit("-", 1)[1])] = int(match.group(1))
    if 1 not in totals:
        raise BenchmarkError(f"callgrind wrote no dump of the main thread next to {out_file}")
    return totals


def send_one_at_a_time(bootstrap: str, request: bytes, count: int) -> None:
    """`count` copies of a Produce request frame, each sent after the previous one is answered."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = connection.makefile("rb")
        for _ in range(count):
            connection.sendall(request)
            size = _SIZE.unpack(stream.read(4))[0]
            check_produce_response(stream.read(size))


def counted_run(
    valgrind: str, control: str, metrics: bool, records: int, record_bytes: int, requests: int
) -> Instructions:
    with tempfile.TemporaryDirectory(prefix="streamhouse-metrics-cost-") as folder:
        out_file = Path(folder) / "callgrind.out"
        wrapper = [
            valgrind, "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={out_file}",
        ]  # fmt: skip
        flags = [
            "--metrics", "true" if metrics else "false",
            "--compaction-interval-ms", str(NO_COMPACTION_MS), "--broker-heartbeat-ms", str(HOUR_MS),
        ]  # fmt: skip
        broker = BrokerProcess(
            Path(folder) / "data", flags, wrapper=wrapper, start_timeout=VALGRIND_START_TIMEOUT_S
        ).start()
        assert broker.process is not None
        pid = str(broker.process.pid)
        try:
            create_topic(broker.bootstrap, TOPIC, 1, VALGRIND_START_TIMEOUT_S)
            request = produce_request(TOPIC, 0, -1, record_bytes, records)
            send_one_at_a_time(broker.bootstrap, request, WARM_UP_REQUESTS)
            subprocess.run([control, "--instr=on", pid], check=True, capture_output=True)
            send_one_at_a_time(broker.bootstrap, request, requests)
            subprocess.run([control, "--dump", pid], check=True, capture_output=True)
        finally:
            broker.stop(timeout=VALGRIND_START_TIMEOUT_S)
        totals = callgrind_totals(out_file)
    return Instructions(totals[1] / requests, sum(totals.values()) / requests)


def print_throughput(record_bytes: int, runs: dict[bool, list[ProduceRun]]) -> float | None:
    """Prints the medians; returns the median records per request of the metrics-on runs."""
    on_rate, off_rate = (statistics.median(run.msgs_per_s for run in runs[side]) for side in (True, False))
    on_cpu, off_cpu = (statistics.median(run.cpu_us_per_record for run in runs[side]) for side in (True, False))
    ratios = ", ".join(f"{on.msgs_per_s / off.msgs_per_s:.3f}" for on, off in zip(runs[True], runs[False], strict=True))
    shapes = [run.records_per_request for run in runs[True] if run.records_per_request is not None]
    per_request = statistics.median(shapes) if shapes else None
    print(
        f"{record_bytes} B medians: on {on_rate:,.0f} msg/s, {on_cpu:.2f} µs CPU/record; off {off_rate:,.0f} msg/s, "
        f"{off_cpu:.2f} µs CPU/record; on/off - 1: throughput {on_rate / off_rate - 1:+.1%}, CPU per record "
        f"{on_cpu / off_cpu - 1:+.1%}; per round on/off: {ratios}"
        + (f"; {per_request:,.0f} records per Produce request" if per_request else ""),
        flush=True,
    )
    return per_request


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """ "2200x100,960x1024" -> [(2200, 100), (960, 1024)] (records per request x record bytes)."""
    shapes = []
    for item in text.split(","):
        records, _, size = item.strip().partition("x")
        if not records.isdigit() or not size.isdigit() or int(records) < 1 or int(size) < 1:
            raise ValueError(f"{item!r} is not RECORDSxBYTES")
        shapes.append((int(records), int(size)))
    return shapes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_cost", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="on/off pairs of throughput runs per record size (default 5; 0: none)")
    add("--records-100b", type=int, default=300_000, help="records of 100 B per throughput run (default 300,000)")
    add("--records-1k", type=int, default=100_000, help="records of 1 KiB per throughput run (default 100,000)")
    add("--requests", type=int, default=200, help="counted Produce requests per callgrind run (default 200; 0: none)")
    add("--pairs", type=int, default=3, help="on/off pairs of callgrind runs per request shape (default 3)")
    add("--shapes", help="request shapes for callgrind, RECORDSxBYTES,... (default: what part 1 measured)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests) < 0 or min(args.records_100b, args.records_1k, args.pairs) < 1:
        parser.error("--rounds and --requests must not be negative, record counts and --pairs at least 1")
    try:
        shapes = parse_shapes(args.shapes) if args.shapes else []
    except ValueError as exc:
        parser.error(f"--shapes: {exc}")
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if args.requests and (valgrind is None or control is None):
        parser.error("valgrind is not installed (apt install valgrind), or pass --requests 0")
    try:
        for record_bytes, records in ((100, args.records_100b), (1024, args.records_1k)):
            runs: dict[bool, list[ProduceRun]] = {True: [], False: []}
            for round_number in range(1, args.rounds + 1):
                for metrics in (True, False) if round_number % 2 else (False, True):
                    run = throughput_run(record_bytes, records, metrics)
                    runs[metrics].append(run)
                    print(
                        f"{record_bytes} B round {round_number} metrics {'on ' if metrics else 'off'}: "
                        f"{run.msgs_per_s:,.0f} msg/s, broker CPU {run.cpu_us_per_record:.2f} µs/record",
                        flush=True,
                    )
            per_request = print_throughput(record_bytes, runs) if args.rounds else None
            if per_request is not None and not args.shapes:
                shapes.append((round(per_request), record_bytes))
        if args.requests and valgrind is not None and control is not None:
            for records, record_bytes in [*shapes, WORST_CASE]:
                shares = []
                for _ in range(args.pairs):
                    on, off = (
                        counted_run(valgrind, control, m, records, record_bytes, args.requests) for m in (True, False)
                    )
                    shares.append((on.loop / off.loop - 1, on.process / off.process - 1))
                    print(
                        f"callgrind, {args.requests} requests of {records:,} x {record_bytes} B: instructions per "
                        f"request, event loop thread on {on.loop:,.0f} / off {off.loop:,.0f} ({shares[-1][0]:+.2%}), "
                        f"whole process on {on.process:,.0f} / off {off.process:,.0f} ({shares[-1][1]:+.2%})",
                        flush=True,
                    )
                loop_share, process_share = (statistics.median(share[index] for share in shares) for index in (0, 1))
                print(
                    f"callgrind, {records:,} x {record_bytes} B, median of {args.pairs} pairs: metrics on costs "
                    f"{loop_share:+.2%} of the event loop thread's instructions, {process_share:+.2%} of the process's",
                    flush=True,
                )
    except BenchmarkError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
