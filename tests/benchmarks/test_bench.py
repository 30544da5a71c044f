"""The benchmark tool works end to end: figures come from real clients, the ceiling server checks what it stores.

No timing is asserted: the figures depend on the machine. What is asserted is that every run moved
exactly the records it says it moved.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench import Report, check_targets, medians, ratio, round_ratios
from benchmarks.floor import measure_floor
from benchmarks.replay import produce_request, run_replay
from benchmarks.servers import ReferenceServer, machine_cpu_ticks, steal_percent
from benchmarks.throughput import cyclic_gc_paused, payload_of
from streamhouse.protocol.records import Compression, Record, build_batch
from tests.wireclient import WireClient

REPO = Path(__file__).parents[2]


def test_replay_against_the_reference_server_stores_every_acknowledged_batch(tmp_path: Path) -> None:
    log = tmp_path / "reference.log"
    server = ReferenceServer(log)
    try:
        result = run_replay(
            server.bootstrap, "replay", 4, connections=2, depth=3, record_bytes=100, batch_records=10, seconds=0.5
        )
    finally:
        server.stop()
    batch = build_batch([Record(key=None, value=payload_of(100))] * 10, compression=Compression.NONE)
    assert result.requests > 0
    assert log.stat().st_size == result.requests * len(batch)


def test_reference_server_closes_a_connection_that_sends_a_corrupt_batch(tmp_path: Path) -> None:
    server = ReferenceServer(tmp_path / "reference.log")
    try:
        frame = bytearray(produce_request("replay", 0, -1, 100, 10))
        frame[-2] ^= 0xFF  # inside the last record: the batch CRC no longer matches
        with WireClient(server.bootstrap) as client:
            client.send_raw(bytes(frame))
            assert client.is_closed_by_peer()
    finally:
        server.stop()
    assert (tmp_path / "reference.log").stat().st_size == 0


def run_bench(arguments: list[str], report_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`streamhouse bench` with `arguments` (JSON to report_path): its run and report, checked to have no failure."""
    done = subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "bench", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    assert report["failures"] == []
    return done, report


@pytest.mark.slow
def test_streamhouse_bench_small_run_writes_checked_figures(tmp_path: Path) -> None:
    """`streamhouse bench` on StreamHouse alone: confluent-kafka and kafka-python, latency, scale."""
    report_path = tmp_path / "bench.json"
    arguments = [
        "--brokers", "streamhouse", "--scenarios", "throughput,latency,e2e,scale",
        "--clients", "confluent,kafka-python", "--sizes", "100", "--acks", "all", "--partitions", "2",
        "--producers", "2", "--records", "2000", "--records-kafka-python", "300",
        "--rate", "200", "--latency-seconds", "0.5",
        "--scale-topics", "3", "--scale-partitions", "4", "--scale-connections", "5",
        "--timeout", "60", "--json", str(report_path),
    ]  # fmt: skip
    done, report = run_bench(arguments, report_path)
    rows = {row["case"]["client"]: row for row in report["throughput"]}
    assert rows.keys() == {"confluent", "kafka-python"}
    assert rows["confluent"]["case"]["records"] == 10_000  # --records is for 1 KiB: 5x as many of 100 B
    assert rows["kafka-python"]["case"]["records"] == 300
    assert all(row["produce_msgs_per_s"] > 0 and row["consume_msgs_per_s"] > 0 for row in rows.values())
    assert all(row["raw_fetch_msgs_per_s"] > 0 for row in rows.values())  # it read to the offsets produced
    assert "raw Fetch" in done.stdout
    assert [(row["kind"], row["records"]) for row in report["latency"]] == [("produce", 100), ("end-to-end", 100)]
    assert [(row["topics"], row["partitions"], row["idle_connections"]) for row in report["scale"]] == [(3, 12, 5)]
    assert "== targets ==" in done.stdout
    steps = {"produce latency at 200 msg/s on StreamHouse", "end-to-end latency at 200 msg/s on StreamHouse"}
    assert steps <= report["steal_percent_by_step"].keys()
    shares = [*report["steal_percent_by_step"].values(), report["steal_percent_over_run"]]
    assert all(0 <= share <= 100 for share in shares)
    assert "% over the run" in done.stdout


@pytest.mark.slow
def test_streamhouse_bench_rounds_repeat_every_step_and_report_each_round(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    arguments = [
        "--brokers", "streamhouse", "--scenarios", "throughput,latency,replay", "--rounds", "2",
        "--clients", "confluent", "--sizes", "100", "--acks", "all", "--partitions", "1", "--producers", "1",
        "--records", "200", "--rate", "200", "--latency-seconds", "0.5", "--replay-seconds", "0.5",
        "--timeout", "60", "--json", str(report_path),
    ]  # fmt: skip
    done, report = run_bench(arguments, report_path)
    assert [(row["broker"], row["round"]) for row in report["throughput"]] == [("StreamHouse", 1), ("StreamHouse", 2)]
    assert [(row["broker"], row["round"]) for row in report["latency"]] == [("StreamHouse", 1), ("StreamHouse", 2)]
    replay = [(row["server"], row["round"]) for row in report["replay"]]
    assert replay == [("reference", 1), ("StreamHouse", 1), ("reference", 2), ("StreamHouse", 2)]
    assert "produce latency at 200 msg/s round 2/2 on StreamHouse" in report["steal_percent_by_step"]
    p99 = next(t for t in report["targets"] if t["target"].startswith("produce p99"))
    assert p99["value"] == statistics.median(row["p99_ms"] for row in report["latency"])
    shares = [row["mb_per_s"] for row in report["replay"]]
    replay_target = next(t for t in report["targets"] if t["target"].startswith("replay"))
    assert replay_target["value"] == pytest.approx(
        statistics.median([100 * shares[1] / shares[0], 100 * shares[3] / shares[2]])
    )
    assert "== targets == (medians over 2 rounds)" in done.stdout


def test_steal_is_the_stolen_share_of_the_machine_cpu_time_between_two_readings() -> None:
    total, stolen = machine_cpu_ticks()
    assert 0 <= stolen <= total
    assert steal_percent((1_000, 40), (1_400, 140)) == 25.0
    assert steal_percent((1_000, 40), (1_000, 40)) == 0.0


def test_a_timed_read_pauses_the_cyclic_collector_and_leaves_it_as_it_was() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("a failed read")
    assert gc.isenabled()


@pytest.mark.slow
def test_throughput_on_s3_and_postgresql_counts_puts_and_latencies(tmp_path: Path) -> None:
    """`python -m benchmarks.throughput` with the broker options: moto S3, throwaway PostgreSQL, metrics off."""
    report_path = tmp_path / "throughput.json"
    arguments = [
        "--records-100b", "0", "--records-1k", "500", "--rate", "2000", "--storage", "s3",
        "--metadata", "postgresql", "--metrics", "off", "--broker-arg=--flush-ms=50", "--json", str(report_path),
    ]  # fmt: skip
    command = [sys.executable, "-m", "benchmarks.throughput", *arguments]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert "S3 objects on a moto server" in report["broker"] and "PostgreSQL" in report["broker"]
    [row] = report["results"]
    assert (row["case"]["record_bytes"], row["case"]["records"], row["case"]["rate"]) == (1024, 500, 2000)
    # Paced at 2,000/s, 500 records take at least a quarter of a second.
    assert row["produce_seconds"] >= 0.24
    assert row["flush_objects_put"] >= 1
    assert row["puts_per_mb"] == pytest.approx(row["flush_objects_put"] / 0.512)
    assert 0 < row["produce_p50_ms"] <= row["produce_p99_ms"]
    assert "PUTs/MB" in done.stdout and "--metrics false" in done.stdout and "--flush-ms=50" in done.stdout


@pytest.mark.slow
def test_trace_breaks_every_produce_request_down_into_every_stage(tmp_path: Path) -> None:
    """`python -m benchmarks.trace` on the embedded default: each stage is timed for every request traced."""
    command = [sys.executable, "-m", "benchmarks.trace", "--rate", "200", "--seconds", "0.5", "--timeout", "60"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "client: 100 records at 200/s" in done.stdout
    counts = {
        line[:46].strip(): int(line.split()[-2])
        for line in done.stdout.splitlines()
        if line[:1].isalpha() and line.split()[-1].isdigit() and not line.startswith(("client", "gc "))
    }
    requests = counts.pop("TOTAL receive -> written")
    assert 0 < requests <= 100  # librdkafka may put several records in one request
    expected = {
        "receive -> decoded", "decoded -> handler runs", "enqueued -> flush starts", "put thread: write",
        "put thread: fdatasync volume", "commit thread: statements",
        "commit thread: COMMIT (WAL fsync)", "commit done -> futures resolved", "encoded -> written",
    }  # fmt: skip
    assert expected <= counts.keys()
    assert {stage: count for stage, count in counts.items() if count != requests} == {}


def test_rounds_give_medians_per_broker_and_the_median_of_the_rounds_ratios() -> None:
    rows = [
        {"broker": "StreamHouse", "round": 1, "msgs": 100.0},
        {"broker": "Tansu", "round": 1, "msgs": 200.0},
        {"broker": "StreamHouse", "round": 2, "msgs": 300.0},
        {"broker": "Tansu", "round": 2, "msgs": 100.0},
        {"broker": "StreamHouse", "round": 3, "msgs": 120.0},
        {"broker": "Tansu", "round": 3, "msgs": 100.0},
        {"broker": "StreamHouse", "round": 4, "msgs": 999.0},  # Tansu failed in round 4: no ratio
    ]
    assert medians(rows, "msgs") == {"StreamHouse": 210.0, "Tansu": 100.0}
    assert round_ratios(rows, "msgs", "StreamHouse", "Tansu") == [0.5, 3.0, 1.2]
    assert ratio(rows, "msgs") == " 1.20x in 0.50-3.00"
    assert ratio(rows[:2], "msgs") == " 0.50x"  # one round: no range
    assert ratio(rows[-1:], "msgs") == "    -"


def test_targets_over_rounds_use_the_median_ratio_and_the_median_p99() -> None:
    case = {"client": "c", "record_bytes": 1024, "acks": "all", "partitions": 1, "producers": 1}

    def row(broker: str, round_: int, produce: float, consume: float, cpu: float) -> dict[str, object]:
        figures = {"produce_msgs_per_s": produce, "consume_msgs_per_s": consume}
        return {"broker": broker, "round": round_, "case": case, **figures, "broker_cpu_s_per_gb_produced": cpu}

    report = Report({}, {"rounds": 3})
    report.throughput = [
        row("StreamHouse", 1, 90, 160, 1.0), row("Tansu", 1, 100, 100, 2.0),
        row("StreamHouse", 2, 200, 100, 3.0), row("Tansu", 2, 100, 100, 2.0),
        row("StreamHouse", 3, 130, 140, 1.0), row("Tansu", 3, 100, 100, 0.0),  # Tansu CPU 0 ticks: no ratio
    ]  # fmt: skip
    report.replay = [
        {"server": server, "round": r, "mb_per_s": mb_per_s}
        for r, reference, ours in ((1, 200.0, 100.0), (2, 100.0, 70.0), (3, 100.0, 65.0))
        for server, mb_per_s in (("reference", reference), ("StreamHouse", ours))
    ]
    report.latency = [
        {"kind": "produce", "broker": "StreamHouse", "rate": 2000, "round": r, "p99_ms": p99}
        for r, p99 in ((1, 4.0), (2, 30.0), (3, 6.0))
    ]
    check_targets(report)
    found = {t["target"]: (t["value"], t["met"]) for t in report.targets}
    assert found == {
        "produce msg/s vs Tansu, 1024 B, 1 partition(s), 1 producer(s)": (1.3, True),
        "consume msg/s vs Tansu, 1024 B, 1 partition(s), 1 producer(s)": (1.4, False),
        "CPU s/GB produced vs Tansu, 1024 B, 1 partition(s), 1 producer(s)": (1.0, True),
        "replay ingest vs reference server": (65.0, True),
        "produce p99 at 2000 msg/s, StreamHouse": (6.0, False),
    }
    floors = ((2.0, 1.0), (1.0, 2.0), (4.0, 1.0))  # each round's floor p50 and p99, in ms
    report.latency = [
        {**row, "p50_ms": p50, "floor_p50_ms": floor_p50, "floor_p99_ms": floor_p99}
        for row, p50, (floor_p50, floor_p99) in zip(report.latency, (5.0, 7.0, 6.0), floors, strict=True)
    ]
    report.targets = []
    check_targets(report)
    found = {t["target"]: (t["value"], t["met"]) for t in report.targets}
    assert found["produce p50 / the floor's"] == (2.5, True)  # per round 2.5x, 7x, 1.5x
    assert found["produce p99 / the floor's"] == (6.0, True)  # per round 4x, 15x, 6x


def test_the_floor_times_an_append_with_fdatasync_and_a_sqlite_commit_in_the_folder_given(tmp_path: Path) -> None:
    floor = measure_floor(tmp_path, samples=20)
    assert floor.samples == 20
    assert 0 < floor.append_p50_ms < floor.p50_ms <= floor.p99_ms
    assert 0 < floor.commit_p50_ms < floor.p50_ms
    assert list(tmp_path.iterdir()) == []  # its files are gone


@pytest.mark.slow
def test_bench_c_client_produces_and_consumes_every_case_checked_beside_the_floor(tmp_path: Path) -> None:
    """The C client (benchmarks/cload) against StreamHouse: several producer processes, every record read back."""
    report_path = tmp_path / "bench.json"
    arguments = [
        "--brokers", "streamhouse", "--scenarios", "throughput,latency", "--clients", "c",
        "--sizes", "100,1024", "--acks", "all,1", "--partitions", "3", "--producers", "1,4",
        "--records", "1000", "--rate", "200", "--latency-seconds", "0.5", "--timeout", "60", "--json", str(report_path),
    ]  # fmt: skip
    done, report = run_bench(arguments, report_path)
    cases = [(r["case"]["record_bytes"], r["case"]["acks"], r["case"]["producers"]) for r in report["throughput"]]
    assert sorted(cases) == sorted(
        (size, acks, producers) for size in (100, 1024) for acks in ("all", "1") for producers in (1, 4)
    )
    for row in report["throughput"]:
        assert row["case"]["client"] == "c"
        assert row["case"]["records"] == (5000 if row["case"]["record_bytes"] == 100 else 1000)
        assert row["produce_msgs_per_s"] > 0 and row["consume_msgs_per_s"] > 0 and row["raw_fetch_msgs_per_s"] > 0
        assert 0 < row["produce_p50_ms"] <= row["produce_p99_ms"]
    [floor] = report["floors"]  # one round
    assert floor["samples"] > 0 and 0 < floor["p50_ms"] <= floor["p99_ms"]
    [latency] = report["latency"]
    assert (latency["floor_p50_ms"], latency["floor_p99_ms"]) == (floor["p50_ms"], floor["p99_ms"])
    assert "floor (1 KiB append + fdatasync, then a SQLite WAL commit" in done.stdout
    assert "x the floor)" in done.stdout
    assert {t["target"] for t in report["targets"]} >= {"produce p50 / the floor's", "produce p99 / the floor's"}
