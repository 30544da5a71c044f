"""The disk's floor under a durable produce: one 1 KiB append + fdatasync, then one SQLite commit.

An acknowledged produce on the embedded default has at least this to wait for: its records appended
to a volume file and synced, then the batch index committed in SQLite (WAL, synchronous=FULL). Each
sample is both, timed together, in files of the folder given (the broker's data folder's filesystem);
`streamhouse bench` prints produce latency as a multiple of the p50 and p99 found here.
Run alone: `python -m benchmarks.floor [FOLDER] [--samples N]`.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    print(describe(measure_floor(args.folder, args.samples)))


if __name__ == "__main__":
    main()
