"""Where a produce request's time goes inside the broker: a per-stage breakdown, from monotonic timestamps.

Run: `python -m benchmarks.trace [--rate 2000] [--seconds 10] [StreamHouse options]` (the options of
benchmarks/servers.py: `--storage s3`, `--metadata postgresql`, `--broker-arg FLAG`...). It starts
the broker as `python -m benchmarks.trace serve ...`: the ordinary `streamhouse serve` with a Recorder
installed as the tracer of the produce path's trace points (tracing.TRACE), then sends records at a
fixed rate through confluent-kafka (acks=all, linger 0, as benchmarks/latency.py does), stops the
broker, which prints its timestamps, and prints, per stage, p50 / p99 / mean in milliseconds over
every produce request:

receive -> decode -> produce handler -> write buffer enqueue -> flush start -> object put (its thread
starts, appends the flush object to its volume, fdatasyncs it) -> back on the event loop -> the
previous flush's commit -> metadata commit (SQLite: queueing for the lock and its thread, the
statements, COMMIT with its WAL fsync; PostgreSQL: the whole call) -> futures resolved -> handler
resumes -> response encoded -> response written. With the metadata-thread commit strategy (the
embedded default) the put and the commit are one call on SQLite's thread: there the put's thread is
that one, the steps between "put thread done" and "commit thread runs" are one stage, and the stages
of a put returning to the event loop are not reached.

This is a debugging tool: the recorder costs a few microseconds per stage, so compare its totals with
the client's figure it prints beside them, not with benchmarks/latency.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamhouse import tracing
from streamhouse.tracing import Point

TRACE_PREFIX = "TRACE "
now = time.perf_counter


@dataclass
class _FlushTrace:
    """perf_counter() times one flush reached each point at (0.0: not reached), and its sizes."""

    started: float = 0.0
    put_called: float = 0.0
    put_thread: float = 0.0
    written: float = 0.0
    fdatasync: tuple[float, float] = (0.0, 0.0)
    put_thread_done: float = 0.0
    put_returned: float = 0.0
    commit_called: float = 0.0
    commit_thread: float = 0.0
    commit_statement: float = 0.0
    commit_thread_done: float = 0.0
    commit_returned: float = 0.0
    resolved: float = 0.0
    batches: int = 0
    group: int = 0  # flushes committed together


@dataclass
class _RequestTrace:
    """perf_counter() times one produce request reached each point at, and the flush that stored it."""

    received: float
    decoded: float = 0.0
    handler: float = 0.0
    enqueued: float = 0.0
    handler_done: float = 0.0
    encoded: float = 0.0
    written: float = 0.0
    flush: _FlushTrace | None = None


# (stage name, its start and end in a request trace); a stage with a missing timestamp is left out.
def _stages(r: _RequestTrace) -> list[tuple[str, float, float]]:
    f = r.flush or _FlushTrace()
    return [
        ("receive -> decoded", r.received, r.decoded),
        ("decoded -> handler runs", r.decoded, r.handler),
        ("handler -> enqueued (lock, topic, CRC)", r.handler, r.enqueued),
        ("enqueued -> flush starts", r.enqueued, f.started),
        ("flush start -> put called", f.started, f.put_called),
        ("put called -> put thread runs", f.put_called, f.put_thread),
        ("put thread: write", f.put_thread, f.written),
        ("put thread: fdatasync volume", *f.fdatasync),
        ("put thread: write done -> thread done", f.written, f.put_thread_done),
        ("put thread done -> loop resumes", f.put_thread_done, f.put_returned),
        ("object put (whole call)", f.put_called, f.put_returned),
        ("put done -> commit called (previous flush)", f.put_returned, f.commit_called),
        ("commit called -> commit thread runs", f.commit_called, f.commit_thread),
        ("put thread done -> commit thread runs", f.put_thread_done, f.commit_thread),
        ("commit thread: statements", f.commit_thread, f.commit_statement),
        ("commit thread: COMMIT (WAL fsync)", f.commit_statement, f.commit_thread_done),
        ("commit thread done -> loop resumes", f.commit_thread_done, f.commit_returned),
        ("metadata commit (whole call)", f.commit_called, f.commit_returned),
        ("object put and metadata commit (whole)", f.put_called, f.commit_returned),
        ("commit done -> futures resolved", f.commit_returned, f.resolved),
        ("resolved -> handler resumes", f.resolved, r.handler_done),
        ("handler done -> encoded", r.handler_done, r.encoded),
        ("encoded -> written", r.encoded, r.written),
        ("TOTAL receive -> written", r.received, r.written),
    ]


def stage_durations(traces: Sequence[_RequestTrace]) -> dict[str, list[float]]:
    """Milliseconds per stage over the complete traces, and the sizes of their flushes and commits."""
    durations: dict[str, list[float]] = {}
    for trace in traces:
        if not trace.written or trace.flush is None:
            continue
        durations.setdefault("(count) batches in the request's flush", []).append(trace.flush.batches)
        durations.setdefault("(count) flushes in its metadata commit", []).append(trace.flush.group)
        for name, start, end in _stages(trace):
            if start and end:
                durations.setdefault(name, []).append((end - start) * 1000)
    return durations


class Recorder:
    """A tracing.Tracer that timestamps the produce path's points into request and flush traces."""

    def __init__(self) -> None:
        self.traces: list[_RequestTrace] = []
        self._received = 0.0  # when bytes last arrived on any connection
        self._by_request: dict[int, _RequestTrace] = {}  # decoded, its handler not started yet
        self._by_task: dict[int, _RequestTrace] = {}  # by the task answering it, until its answer is written
        self._by_future: dict[int, _RequestTrace] = {}  # by an append's future, until that append's flush starts
        self._by_object: dict[str, _FlushTrace] = {}  # by a flush's object key, until its appends are answered
        self._handlers: dict[str, Callable[[Any, float], None]] = {
            "received": self._on_received,
            "decoded": self._on_decoded,
            "handler started": self._on_handler_started,
            "appended": self._on_appended,
            "written": self._on_written,
            "flush started": self._on_flush_started,
            "flush answered": self._on_flush_answered,
            "sync": self._on_sync,
            "synced": self._on_synced,
        }

    def event(self, point: Point, subject: Any) -> None:
        at = now()
        if point in _REQUEST_FIELDS:
            trace = self._by_task.get(id(asyncio.current_task()))
            if trace is not None:
                setattr(trace, _REQUEST_FIELDS[point], at)
        elif point in _FLUSH_FIELDS:
            flush = self._by_object.get(subject)
            if flush is not None:
                setattr(flush, _FLUSH_FIELDS[point], at)
        elif point in _GROUP_FIELDS:
            group = [flush for commit in subject if (flush := self._by_object.get(commit.object_key)) is not None]
            for flush in group:
                setattr(flush, _GROUP_FIELDS[point], at)
                flush.group = len(subject)
        else:
            self._handlers[point](subject, at)

    def _on_received(self, connection: Any, at: float) -> None:
        self._received = at

    def _on_decoded(self, request: Any, at: float) -> None:
        from streamhouse.protocol.apis.produce import PRODUCE

        if request.api.key == PRODUCE.key:
            trace = _RequestTrace(self._received, decoded=at)
            self._by_request[id(request)] = trace
            self.traces.append(trace)

    def _on_handler_started(self, request: Any, at: float) -> None:
        trace = self._by_request.pop(id(request), None)
        if trace is not None:
            trace.handler = at
            self._by_task[id(asyncio.current_task())] = trace

    def _on_appended(self, future: Any, at: float) -> None:
        trace = self._by_task.get(id(asyncio.current_task()))
        if trace is not None:
            trace.enqueued = trace.enqueued or at
            self._by_future[id(future)] = trace

    def _on_written(self, task: Any, at: float) -> None:
        trace = self._by_task.pop(id(task), None)
        if trace is not None:
            trace.written = at

    def _on_flush_started(self, flush: Any, at: float) -> None:
        traced = _FlushTrace(started=at, batches=len(flush.pending))
        self._by_object[flush.commit.object_key] = traced
        for item in flush.pending:
            trace = self._by_future.pop(id(item.future), None)
            if trace is not None and trace.flush is None:
                trace.flush = traced

    def _on_flush_answered(self, flush: Any, at: float) -> None:
        traced = self._by_object.pop(flush.commit.object_key, None)
        if traced is not None:
            traced.resolved = at

    def _on_sync(self, key: str, at: float) -> None:
        flush = self._by_object.get(key)
        if flush is not None:
            flush.written = flush.written or at
            flush.fdatasync = (at, 0.0)

    def _on_synced(self, key: str, at: float) -> None:
        flush = self._by_object.get(key)
        if flush is not None:
            flush.fdatasync = (flush.fdatasync[0], at)


# Points in the task answering a produce request, and the _RequestTrace field each one sets.
_REQUEST_FIELDS = {"handler done": "handler_done", "encoded": "encoded"}
# Points of one flush object's put (their subject: its key), and the _FlushTrace field each one sets.
_FLUSH_FIELDS = {
    "put called": "put_called",
    "put returned": "put_returned",
    "put thread": "put_thread",
    "put thread done": "put_thread_done",
}
# Points of one metadata commit (their subject: its FlushCommit list), and the _FlushTrace field each one sets.
_GROUP_FIELDS = {
    "commit called": "commit_called",
    "commit returned": "commit_returned",
    "commit thread": "commit_thread",
    "commit statement": "commit_statement",
    "commit thread done": "commit_thread_done",
}


def time_collections() -> dict[str, list[float]]:
    """Milliseconds of every garbage collection from now on, per generation ("gc gen0" ...)."""
    pauses: dict[str, list[float]] = {}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = now()
        else:
            pauses.setdefault(f"gc gen{info['generation']} (any thread)", []).append((now() - started[0]) * 1000)

    gc.callbacks.append(callback)
    return pauses


def serve(argv: Sequence[str]) -> None:
    """`streamhouse serve` with a Recorder installed; print the traces' stage durations as one line at exit."""
    recorder = Recorder()
    tracing.install(recorder)
    collections = time_collections()
    from streamhouse.broker.cli import main

    try:
        main(["serve", *argv])
    finally:
        print(TRACE_PREFIX + json.dumps(stage_durations(recorder.traces) | collections), flush=True)


@dataclass
class Breakdown:
    stages: dict[str, list[float]] = field(default_factory=dict)

    def rows(self) -> list[str]:
        lines = [f"{'stage':46} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8} {'count':>7} {'sum ms':>8}"]
        for name, values in self.stages.items():
            ordered = sorted(values)
            p50 = ordered[len(ordered) // 2]
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            mean = sum(ordered) / len(ordered)
            lines.append(
                f"{name:46} {p50:8.3f} {p99:8.3f} {ordered[-1]:8.3f} {mean:8.3f} {len(ordered):7d} {sum(ordered):8.0f}"
            )
        return lines


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        serve(arguments[1:])
        return
    from benchmarks.latency import produce_latency
    from benchmarks.servers import StreamHouseSetup, add_streamhouse_options

    parser = argparse.ArgumentParser(prog="python -m benchmarks.trace", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="offered msg/s (2,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of paced sending (10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before the run fails (120)")
    add_streamhouse_options(parser)
    args = parser.parse_args(arguments)
    setup = StreamHouseSetup.from_args(args)
    problem = setup.check()
    if problem:
        parser.error(problem)
    with tempfile.TemporaryDirectory(prefix="streamhouse-trace-") as folder, ExitStack() as stack:
        server = setup.start(Path(folder), stack, module="benchmarks.trace")
        print(f"StreamHouse: {server.description}")
        result = produce_latency(server, "trace", args.rate, args.seconds, args.timeout)
        server.stop()
        lines = [line for line in server.process.output if line.startswith(TRACE_PREFIX)]
    if not lines:
        raise SystemExit("the broker printed no trace")
    print(
        f"client: {result.records:,} records at {result.rate:,}/s: p50 {result.p50_ms:.2f} ms,"
        f" p99 {result.p99_ms:.2f} ms, p999 {result.p999_ms:.2f} ms"
    )
    print("\n".join(Breakdown(json.loads(lines[-1][len(TRACE_PREFIX) :])).rows()))


if __name__ == "__main__":
    main()
