"""How long the pytest fixture's broker takes to answer: from EmbeddedBroker's start to its first
answered request (ApiVersions over a fresh connection), each run in a fresh interpreter.

Run: `python -m benchmarks.embedded_start [--runs 5]`. Prints per run and the median, in two cases:
- cold: what the session fixture pays in a test process that has not imported the broker yet (the
  fixture imports it on first use: its modules, the protocol's compiled codecs, then the start);
- warm: the broker's modules already imported (a second broker in one process, or a test process that
  imported them while collecting), only the start: stores, listener, the first answer.
Each figure is wall-clock time and, beside it, the CPU time the process spent meanwhile (all its
threads): on a machine shared with other work the wall time grows with the load, the CPU time far less.
For comparison, Kafka under testcontainers takes 10-20 s to its first answer (a container and a JVM).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, time
if {warm}:
    import streamhouse.broker.app, streamhouse.broker.client, streamhouse.embedded
started, cpu_started = time.perf_counter(), time.process_time()
from streamhouse import EmbeddedBroker
from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol.apis.metadata import METADATA

broker = EmbeddedBroker().start()
with BrokerConnection(broker.bootstrap_servers) as connection:
    connection.version_for(METADATA)  # an ApiVersions request, answered
answered, cpu_answered = time.perf_counter(), time.process_time()
broker.stop()
print(json.dumps([answered - started, cpu_answered - cpu_started]))
"""


def one_run(warm: bool) -> tuple[float, float]:
    output = subprocess.run(
        [sys.executable, "-c", CHILD.format(warm=warm)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    wall, cpu = json.loads(output.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per case (default 5)")
    args = parser.parse_args()
    for case, warm in (("cold", False), ("warm", True)):
        runs = [one_run(warm) for _ in range(args.runs)]
        wall = statistics.median(run[0] for run in runs) * 1000
        cpu = statistics.median(run[1] for run in runs) * 1000
        each = " ".join(f"{w * 1000:.0f}/{c * 1000:.0f}" for w, c in runs)
        print(f"{case}: start to first answer, median {wall:.0f} ms (CPU {cpu:.0f} ms); runs wall/CPU: {each} ms")


if __name__ == "__main__":
    main()
