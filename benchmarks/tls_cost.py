"""What TLS costs: produce and consume MB/s over an SSL listener against a PLAINTEXT one, in one run.

Run: `python -m benchmarks.tls_cost` (`--rounds R`, default 3; `--records N` of `--record-bytes B`,
default 50,000 of 1 KiB). Each round starts a new broker on the embedded default (filesystem objects,
SQLite) for each listener kind, which one goes first alternating by round, and runs the throughput
benchmark's produce and consume (benchmarks/throughput.py: confluent-kafka, acks=all, linger 5 ms, one
producer, one consumer reading every partition from the beginning, every record checked) on a new
one-partition topic. The TLS broker serves `--listeners SSL://127.0.0.1:0` with an EC P-256
certificate from a CA made here (tests/tlscerts.py); the client checks it (`ssl.ca.location`) and
negotiates what both prefer (TLS 1.3 with OpenSSL 3). Each run prints MB/s both ways and broker CPU
per GB; then the medians and TLS / plaintext. Client and broker share the machine's CPUs, and on a
shared machine single runs vary by tens of percent: read the medians, and the rounds' spread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException

from benchmarks.servers import BenchmarkError, StreamHouseServer, StreamHouseSetup
from benchmarks.throughput import GB, MB, Case, consume, create_topic, payload_of, produce
from tests.tlscerts import TestCA

TOPIC = "tls-cost"
TIMEOUT_S = 120.0
KINDS = ("plaintext", "tls")


@dataclass(frozen=True)
class Run:
    kind: str
    produce_mb_per_s: float
    consume_mb_per_s: float
    cpu_s_per_gb_produced: float
    cpu_s_per_gb_consumed: float


def setup_for(kind: str, ca: TestCA) -> StreamHouseSetup:
    if kind == "plaintext":
        return StreamHouseSetup()
    server = ca.server()
    listener = [
        "--listeners",
        "SSL://127.0.0.1:0",
        "--ssl-certfile",
        str(server.cert),
        "--ssl-keyfile",
        str(server.key),
    ]
    return StreamHouseSetup(
        broker_args=listener,
        security={"security.protocol": "SSL", "ssl.ca.location": str(ca.cert)},
    )


def measured_run(kind: str, ca: TestCA, record_bytes: int, records: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="streamhouse-tls-cost-") as folder, ExitStack() as stack:
        server: StreamHouseServer = setup_for(kind, ca).start(Path(folder), stack)
        create_topic(server.bootstrap, TOPIC, 1, TIMEOUT_S, server.security)
        case = Case("confluent", record_bytes, "all", 1, 1, records)
        payload = payload_of(record_bytes)
        produce_s, produce_cpu, per_partition, _ = produce(server, case, TOPIC, payload, TIMEOUT_S)
        consume_s, consume_cpu = consume(server, case, TOPIC, payload, per_partition, TIMEOUT_S)
    volume = record_bytes * records
    return Run(
        kind,
        volume / MB / produce_s,
        volume / MB / consume_s,
        produce_cpu / (volume / GB),
        consume_cpu / (volume / GB),
    )


def print_run(label: str, run: Run) -> None:
    print(
        f"{label:>8} {run.kind:>9}: produce {run.produce_mb_per_s:7.2f} MB/s "
        f"({run.cpu_s_per_gb_produced:6.1f} CPU s/GB), consume {run.consume_mb_per_s:7.2f} MB/s "
        f"({run.cpu_s_per_gb_consumed:6.1f} CPU s/GB)",
        flush=True,
    )


def print_summary(runs: Sequence[Run]) -> None:
    medians = {}
    for kind in KINDS:
        mine = [run for run in runs if run.kind == kind]
        medians[kind] = Run(
            kind,
            statistics.median(run.produce_mb_per_s for run in mine),
            statistics.median(run.consume_mb_per_s for run in mine),
            statistics.median(run.cpu_s_per_gb_produced for run in mine),
            statistics.median(run.cpu_s_per_gb_consumed for run in mine),
        )
        print_run("median", medians[kind])
    plain, tls = medians["plaintext"], medians["tls"]
    print(
        f"TLS / plaintext (medians): produce MB/s x{tls.produce_mb_per_s / plain.produce_mb_per_s:.2f}, "
        f"consume MB/s x{tls.consume_mb_per_s / plain.consume_mb_per_s:.2f}, "
        f"CPU s/GB produce x{tls.cpu_s_per_gb_produced / plain.cpu_s_per_gb_produced:.2f}, "
        f"consume x{tls.cpu_s_per_gb_consumed / plain.cpu_s_per_gb_consumed:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tls_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one run per listener kind (default 3)")
    parser.add_argument("--records", type=int, default=50_000, help="records per run (default 50,000)")
    parser.add_argument("--record-bytes", type=int, default=1024, help="bytes per record (default 1024)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.records < 1 or args.record_bytes < 1:
        parser.error("--rounds, --records and --record-bytes must be at least 1")
    runs = []
    with tempfile.TemporaryDirectory(prefix="streamhouse-tls-ca-") as folder:
        ca = TestCA(Path(folder))
        for round_number in range(1, args.rounds + 1):
            for kind in KINDS if round_number % 2 else KINDS[::-1]:
                try:
                    run = measured_run(kind, ca, args.record_bytes, args.records)
                except (BenchmarkError, KafkaException) as exc:
                    print(f"\nBENCHMARK FAILED ({kind}, round {round_number}): {exc}", file=sys.stderr)
                    return 1
                print_run(f"round {round_number}", run)
                runs.append(run)
    print()
    print_summary(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
