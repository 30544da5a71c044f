"""How long the pytest fixture's broker takes to answer: from EmbeddedBroker's start to its first
answered request (ApiVersions over a fresh connection), each run in a fresh interpreter.

Run: `python -m benchmarks.embedded_start [--runs 5]`. Prints per run and the median, in two cases:
- cold: what the session fixture pays in a test process that has not imported the broker yet (the
  fixture imports it on first use: its modules, the protocol's compiled codecs, then the start);
- warm: the broker's modules already imported (a second broker in one process, or a test process that
  imported them while collecting), only the start: stores, listener, the first answer.
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
started = time.perf_counter()
from streamhouse import EmbeddedBroker
from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol.apis.metadata import METADATA

broker = EmbeddedBroker().start()
with BrokerConnection(broker.bootstrap_servers) as connection:
    connection.version_for(METADATA)  # an ApiVersions request, answered
answered = time.perf_counter()
broker.stop()
print(json.dumps(answered - started))
"""


def one_run(warm: bool) -> float:
    output = subprocess.run(
        [sys.executable, "-c", CHILD.format(warm=warm)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return float(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per case (default 5)")
    args = parser.parse_args()
    for case, warm in (("cold", False), ("warm", True)):
        seconds = [one_run(warm) for _ in range(args.runs)]
        runs = " ".join(f"{value * 1000:.0f}" for value in seconds)
        print(f"{case}: start to first answer, median {statistics.median(seconds) * 1000:.0f} ms (runs: {runs} ms)")


if __name__ == "__main__":
    main()
