"""Produce msg/s and broker CPU of two source trees, alternating, with librdkafka's `rdkafka_performance`.

Run: `python -m benchmarks.alternating BASE_TREE BRANCH_TREE --perf PATH [--rounds 3]`, where a tree
is a checkout (e.g. `git archive d87e25c | tar -x -C /tmp/base`) and PATH is `rdkafka_performance`,
built from librdkafka's examples/rdkafka_performance.c against the librdkafka that compat/librdkafka
caches (`gcc -O2 -I$SRC/src -o rdkafka_performance rdkafka_performance.c $SRC/src/librdkafka.so`,
SRC its deps/librdkafka, also what `--lib` points at). Each run is a fresh `streamhouse serve` of one
tree on an empty data folder, one producer (`-P -s SIZE -c COUNT -z CODEC`); trees alternate in order
every round, so that a busy moment of the machine falls on both. Prints each run, then the means.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

RUNS = ((100, 2_000_000, "none"), (1024, 600_000, "none"), (100, 2_000_000, "lz4"))
_LISTENING = re.compile(r"listening on [\d.]+:(\d+)")
_RATE = re.compile(r"(\d+) msgs/s")


def broker_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(tree: str, perf: str, lib: str, size: int, count: int, codec: str) -> tuple[int, float]:
    """(msg/s rdkafka_performance reports at the end, the broker's CPU seconds) of one run."""
    data = tempfile.mkdtemp(prefix="alternating-")
    broker = subprocess.Popen(
        [sys.executable, "-m", "streamhouse.broker.cli", "serve", "--port", "0", "--metrics-port", "-1", "--data-dir", data],  # noqa: E501
        cwd=tree, env={**os.environ, "PYTHONPATH": tree}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert broker.stdout is not None
        port = next(int(match.group(1)) for line in broker.stdout if (match := _LISTENING.search(line)))
        report = subprocess.run(
            [perf, "-P", "-t", f"bench-{size}-{codec}", "-b", f"127.0.0.1:{port}", "-s", str(size), "-c", str(count),
             "-z", codec],
            env={**os.environ, "LD_LIBRARY_PATH": lib}, capture_output=True, text=True, timeout=600, check=True,
        ).stdout  # fmt: skip
        return int(_RATE.findall(report)[-1]), broker_cpu_seconds(broker.pid)
    finally:
        broker.terminate()
        broker.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("branch")
    parser.add_argument("--perf", required=True, help="the rdkafka_performance binary")
    parser.add_argument("--lib", default="", help="folder of the librdkafka.so it was linked with")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"base": args.base, "branch": args.branch}
    rates: dict[str, list[int]] = {}
    cpu: dict[str, list[float]] = {}
    for round_number in range(args.rounds):
        order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
        for name in order:
            for size, count, codec in RUNS:
                rate, seconds = one_run(trees[name], args.perf, args.lib, size, count, codec)
                key = f"{name} {size} B {codec}"
                rates.setdefault(key, []).append(rate)
                cpu.setdefault(key, []).append(seconds)
                print(f"round {round_number}: {key}: {rate} msg/s, broker CPU {seconds:.2f} s", flush=True)
    for key in sorted(rates):
        print(f"{key}: mean {mean(rates[key]):,.0f} msg/s {rates[key]}, broker CPU mean {mean(cpu[key]):.2f} s")


if __name__ == "__main__":
    main()
