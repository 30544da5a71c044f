"""benchmarks/floor.py's contention run: commits from several processes into one SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.floor import describe_contention, measure_contention


@pytest.mark.slow
def test_commits_from_two_processes_are_counted_and_their_latencies_summarised(tmp_path: Path) -> None:
    result = measure_contention(tmp_path, processes=2, seconds=0.3)
    assert result.processes == 2 and result.commits_per_s > 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert describe_contention(result).startswith("2 process(es): ")
    assert list(tmp_path.iterdir()) == []  # its database is gone
