"""The soak runs end to end: a few seconds of its whole load, without faults, and every check passes.

The figures are not asserted beyond what any run must show (records went through, every kind of hostile
action ran, the broker was sampled): the soak's own checks are what this test relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.mark.e2e
@pytest.mark.slow
def test_a_short_soak_without_faults_reads_back_every_acknowledged_record_once(tmp_path: Path) -> None:
    figures_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.25", "--no-faults", "--seed", "1",
         "--json", str(figures_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "all checks passed" in done.stdout
    figures = json.loads(figures_path.read_text())
    assert figures["failures"] == []
    assert figures["records_acknowledged"] > 0
    assert figures["records_read"] == figures["records_acknowledged"]
    assert figures["acknowledged_missing"] == figures["records_duplicated"] == 0
    assert figures["transactions_committed"] + figures["transactions_aborted"] > 0
    assert figures["group_commits"] > 0
    assert set(figures["hostile_actions"]) >= {"garbage_frame", "huge_frame"}
    assert figures["hostile_closed_by_broker"]["garbage_frame"] == figures["hostile_actions"]["garbage_frame"]
    assert figures["rss_mib"]
    assert figures["faults"] == []
