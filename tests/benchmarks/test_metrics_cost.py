"""The metrics cost benchmark: its parsing, and one counted run of each kind against a real broker.

No figure is asserted beyond what any real run must show: a Produce request takes well over 100,000
instructions of the event loop thread, and the whole process at least as many as that one thread.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.metrics_cost import callgrind_totals, counted_run, parse_shapes, throughput_run
from benchmarks.servers import BenchmarkError


def test_parse_shapes_reads_records_by_bytes_and_refuses_anything_else() -> None:
    assert parse_shapes("2200x100, 960x1024") == [(2200, 100), (960, 1024)]
    for bad in ("2200", "x100", "0x100", "10x0", "10x1k", "-1x100"):
        with pytest.raises(ValueError, match="RECORDSxBYTES"):
            parse_shapes(bad)


def test_callgrind_totals_reads_each_threads_first_dump(tmp_path: Path) -> None:
    out_file = tmp_path / "callgrind.out"
    (tmp_path / "callgrind.out.1-01").write_text("events: Ir\nsummary: 1200\n")
    (tmp_path / "callgrind.out.1-02").write_text("events: Ir\nsummary: 34\n")
    (tmp_path / "callgrind.out-01").write_text("events: Ir\nsummary: 999999\n")  # the dump at exit: not counted
    assert callgrind_totals(out_file) == {1: 1200, 2: 34}


def test_callgrind_totals_without_the_main_threads_dump_fails(tmp_path: Path) -> None:
    (tmp_path / "callgrind.out.1-02").write_text("summary: 34\n")
    with pytest.raises(BenchmarkError, match="main thread"):
        callgrind_totals(tmp_path / "callgrind.out")


def test_a_throughput_run_with_metrics_counts_the_records_per_request() -> None:
    run = throughput_run(100, 2_000, metrics=True)
    assert run.msgs_per_s > 0
    assert run.records_per_request is not None
    assert 1 <= run.records_per_request <= 2_000
    assert throughput_run(100, 2_000, metrics=False).records_per_request is None


@pytest.mark.slow
@pytest.mark.parametrize("metrics", [True, False], ids=["metrics-on", "metrics-off"])
def test_a_counted_run_reads_callgrinds_instruction_counts(metrics: bool) -> None:
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    assert valgrind is not None and control is not None, "scripts/test installs valgrind"
    counted = counted_run(valgrind, control, metrics, records=10, record_bytes=100, requests=5)
    assert counted.loop > 100_000
    assert counted.process >= counted.loop
