"""The disk's floor under a durable produce: one 1 KiB append + fdatasync, then one SQLite commit.

An acknowledged produce on the embedded default has at least this to wait for: its records appended
to a volume file and synced, then the batch index committed in SQLite (WAL, synchronous=FULL). Each
sample is both, timed together, in files of the folder given (the broker's data folder's filesystem);
`streamhouse bench` prints produce latency as a multiple of the p50 and p99 found here.

Run alone, `python -m benchmarks.floor [FOLDER] [--samples N] [--processes 2] [--seconds 3]` also
shows why `streamhouse serve --workers` needs PostgreSQL (`measure_contention`): broker worker
processes on the embedded store would share one SQLite file, and so its one write lock: every
flush's commit takes it (BEGIN IMMEDIATE). Within one process the broker's commits queue on one
thread; between processes a writer that finds the lock taken is not queued but sleeps in SQLite's
busy handler (1, 2, 5, 10, 15, 20, 25, ... ms, retrying each time), so a commit that meets another
process's commit waits milliseconds more than the commit it waited for. It runs 1, then N processes,
each committing as fast as it can what a flush commits at least (one row, WAL, synchronous=FULL,
busy_timeout 5 s as the broker sets them) into one file, and prints commits/s over all and each
commit's latency (lock wait included) p50/p99/max.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RECORD = b"x" * 1024


@dataclass(frozen=True)
class Floor:
    samples: int
    p50_ms: float
    p99_ms: float
    append_p50_ms: float  # the append + fdatasync alone
    commit_p50_ms: float  # the SQLite commit alone


def measure_floor(folder: Path, samples: int = 300) -> Floor:
    """p50/p99 of (append 1 KiB + fdatasync, then INSERT + COMMIT) in new files under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="floor-", dir=folder) as where:
        database = sqlite3.connect(Path(where) / "floor.db", isolation_level=None)
        database.execute("PRAGMA journal_mode=WAL")
        database.execute("PRAGMA synchronous=FULL")
        database.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, base_offset INTEGER, position INTEGER)")
        file = os.open(Path(where) / "volume", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        appends, commits, totals = [], [], []
        try:
            for index in range(samples):
                started = time.perf_counter()
                os.write(file, RECORD)
                os.fdatasync(file)
                appended = time.perf_counter()
                database.execute("BEGIN")
                database.execute("INSERT INTO batches (base_offset, position) VALUES (?, ?)", (index, index * 1024))
                database.execute("COMMIT")
                committed = time.perf_counter()
                appends.append(appended - started)
                commits.append(committed - appended)
                totals.append(committed - started)
        finally:
            os.close(file)
            database.close()
    return Floor(
        samples,
        percentile_ms(totals, 50),
        percentile_ms(totals, 99),
        percentile_ms(appends, 50),
        percentile_ms(commits, 50),
    )


def percentile_ms(values: list[float], percent: int) -> float:
    return 1000 * statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def describe(floor: Floor) -> str:
    return (
        f"floor (1 KiB append + fdatasync, then a SQLite WAL commit, synchronous=FULL; {floor.samples} samples): "
        f"p50 {floor.p50_ms:.2f} ms, p99 {floor.p99_ms:.2f} ms "
        f"(append + fdatasync p50 {floor.append_p50_ms:.2f} ms, commit p50 {floor.commit_p50_ms:.2f} ms)"
    )


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


def measure_contention(folder: Path, processes: int, seconds: float) -> Contention:
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
    return Contention(
        processes,
        len(latencies) / seconds,
        percentile_ms(latencies, 50),
        percentile_ms(latencies, 99),
        1000 * max(latencies),
    )


def describe_contention(result: Contention) -> str:
    return (
        f"{result.processes} process(es): {result.commits_per_s:,.0f} commits/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, max {result.max_ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2, help="processes committing at once (2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds each contention run commits (3)")
    args = parser.parse_args()
    print(describe(measure_floor(args.folder, args.samples)), flush=True)
    for processes in sorted({1, args.processes}):
        print(describe_contention(measure_contention(args.folder, processes, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
