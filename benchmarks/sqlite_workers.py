"""Why `--workers` needs PostgreSQL: SQLite commits from one process against commits from several.

Broker worker processes on the embedded store would share one SQLite file, and so its one write
lock: every flush's commit takes it (BEGIN IMMEDIATE). Within one process the broker's commits queue
on one thread; between processes a writer that finds the lock taken is not queued but sleeps in
SQLite's busy handler (1, 2, 5, 10, 15, 20, 25, ... ms, retrying each time), so a commit that meets
another process's commit waits milliseconds more than the commit it waited for. This runs 1, then
N processes, each committing as fast as it can what a flush commits at least (one row, WAL,
synchronous=FULL, busy_timeout 5 s as the broker sets them) in one file in FOLDER, and prints
commits/s over all and each commit's latency (lock wait included) p50/p99/max.
Run: `python -m benchmarks.sqlite_workers [FOLDER] [--processes 2] [--seconds 3]`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Contention:
    processes: int
    commits_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def _commit_loop(path: str, until: float, out: multiprocessing.Queue[list[float]]) -> None:
    database = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    database.execute("PRAGMA synchronous=FULL")
    latencies = []
    while time.monotonic() < until:
        started = time.perf_counter()
        database.execute("BEGIN IMMEDIATE")
        database.execute("INSERT INTO batches (base_offset) VALUES (1)")
        database.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
    database.close()
    out.put(latencies)


def measure(folder: Path, processes: int, seconds: float) -> Contention:
    """`processes` processes committing into one new database in `folder` for `seconds`."""
    with tempfile.TemporaryDirectory(prefix="sqlite-workers-", dir=folder) as where:
        path = str(Path(where) / "metadata.db")
        setup = sqlite3.connect(path, isolation_level=None)
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, base_offset INTEGER)")
        setup.close()
        context = multiprocessing.get_context("spawn")
        out: multiprocessing.Queue[list[float]] = context.Queue()
        until = time.monotonic() + 1.0 + seconds  # a second for the processes to start
        workers = [context.Process(target=_commit_loop, args=(path, until, out)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        latencies = [value for _ in workers for value in out.get(timeout=seconds + 60)]
        for worker in workers:
            worker.join(30)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Contention(processes, len(latencies) / seconds, 1000 * cuts[49], 1000 * cuts[98], 1000 * max(latencies))


def describe(result: Contention) -> str:
    return (
        f"{result.processes} process(es): {result.commits_per_s:,.0f} commits/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, max {result.max_ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for processes in sorted({1, args.processes}):
        print(describe(measure(args.folder, processes, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
