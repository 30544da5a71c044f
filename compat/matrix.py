"""The client x scenario matrix: every scenario with every stock client that can do it, one process per cell."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs", "confluent-848")  # 848: KIP-848 consumers
SCENARIOS = (
    "roundtrip_codecs",
    "keys_headers_nulls",
    "idempotent_producer",
    "group_rebalance",
    "commit_resume",
    "seek_timestamp",
    "admin",
    "metadata_listing",
    "large_messages",
    "many_partitions",
)
CELL_TIMEOUT_S = 240.0
ROOT = Path(__file__).parents[1]


@dataclass(frozen=True)
class Outcome:
    scenario: str
    client: str
    passed: bool
    seconds: float
    reason: str = ""


def clients_of(scenario: str) -> tuple[str, ...]:
    clients: tuple[str, ...] = importlib.import_module(f"compat.scenarios.{scenario}").CLIENTS
    return clients


def run_cell(scenario: str, client: str, bootstrap: str) -> Outcome:
    topic = f"compat-{scenario.replace('_', '-')}-{client}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    args = [sys.executable, "-m", "compat.cell", scenario, client, bootstrap, topic]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=CELL_TIMEOUT_S, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(scenario, client, False, time.monotonic() - started, f"timed out after {CELL_TIMEOUT_S:.0f} s")
    lines = done.stderr.strip().splitlines()
    reason = lines[-1] if lines else f"exit code {done.returncode}"
    return Outcome(
        scenario, client, done.returncode == 0, time.monotonic() - started, "" if done.returncode == 0 else reason
    )


def run_matrix(bootstrap: str, scenarios: Sequence[str], clients: Sequence[str], jobs: int) -> list[Outcome]:
    cells = [(s, c) for s in scenarios for c in clients_of(s) if c in clients]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda cell: run_cell(cell[0], cell[1], bootstrap), cells))


def table(outcomes: Sequence[Outcome], scenarios: Sequence[str], clients: Sequence[str]) -> str:
    by_cell = {(o.scenario, o.client): o for o in outcomes}
    width = max(len(s) for s in scenarios)
    lines = ["scenario".ljust(width) + " | " + " | ".join(c.ljust(15) for c in clients)]
    lines.append("-" * len(lines[0]))
    for scenario in scenarios:
        cells = []
        for client in clients:
            outcome = by_cell.get((scenario, client))
            mark = "n/a" if outcome is None else ("pass" if outcome.passed else "FAIL") + f" {outcome.seconds:4.1f}s"
            cells.append(mark.ljust(15))
        lines.append(scenario.ljust(width) + " | " + " | ".join(cells))
    failures = [o for o in outcomes if not o.passed]
    passed = len(outcomes) - len(failures)
    lines.append(f"\n{passed} of {len(outcomes)} cells passed (n/a: the client cannot do it)")
    lines += [f"FAIL {o.scenario} with {o.client}: {o.reason}" for o in failures]
    return "\n".join(lines)
