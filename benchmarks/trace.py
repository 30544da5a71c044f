"""Where a produce request's time goes inside the broker: a per-stage breakdown, from monotonic timestamps.

Run: `python -m benchmarks.trace [--rate 2000] [--seconds 10] [StreamHouse options]` (the options of
benchmarks/servers.py: `--storage s3`, `--metadata postgresql`, `--broker-arg FLAG`...). It starts
the broker as `python -m benchmarks.trace serve ...`: the ordinary `streamhouse serve` with timing
wrappers put around the functions each produce request passes through (nothing in the broker's own
code knows about them), then sends records at a fixed rate through confluent-kafka (acks=all, linger 0,
as benchmarks/latency.py does), stops the broker, which prints its timestamps, and prints, per stage,
p50 / p99 / mean in milliseconds over every produce request:

receive -> decode -> produce handler -> write buffer enqueue -> flush start -> object put (its thread
starts, appends the flush object to its volume, fdatasyncs it) -> back on the event loop -> the
previous flush's commit -> metadata commit (SQLite: queueing for the connection's thread, the
statements, COMMIT with its WAL fsync; PostgreSQL: the whole call) -> futures resolved -> handler
resumes -> response encoded -> response written. On the embedded default the put and the commit are one
call on SQLite's thread (metadata.sqlite.log.SqliteLog.commit_flushes_after): there the put's thread is
that one, the steps between "put thread done" and "commit thread runs" are one stage, and the stages of
a put returning to the event loop are not reached.

This is a debugging tool: the wrappers cost a few microseconds per stage, so compare its totals with
the client's figure it prints beside them, not with benchmarks/latency.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def install() -> list[_RequestTrace]:
    """Wrap the produce path's functions with timestamping; the returned list fills with request traces."""
    from broker import server
    from broker.handlers import HANDLERS
    from metadata.postgres import log as postgres_log
    from metadata.sqlite import log as sqlite_log
    from protocol import wire
    from protocol.apis.produce import PRODUCE
    from protocol.primitives import Buffer
    from storage import log
    from storage.objects import filesystem, s3, volumes

    traces: list[_RequestTrace] = []
    request_trace: contextvars.ContextVar[_RequestTrace | None] = contextvars.ContextVar("request", default=None)
    flush_trace: contextvars.ContextVar[_FlushTrace | None] = contextvars.ContextVar("flush", default=None)
    by_request: dict[int, _RequestTrace] = {}
    by_task: dict[int, _RequestTrace] = {}
    by_future: dict[int, _RequestTrace] = {}
    by_object: dict[str, _FlushTrace] = {}
    received = [0.0]

    def wrap(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        setattr(owner, name, functools.wraps(getattr(owner, name))(make(getattr(owner, name))))

    def buffer_updated(original: Any) -> Any:
        def wrapper(self: Any, nbytes: int) -> None:
            received[0] = now()
            original(self, nbytes)

        return wrapper

    def decode_request(original: Any) -> Any:
        def wrapper(frame: bytes | bytearray, allow_trailing: bool = False) -> Any:
            request = original(frame, allow_trailing)
            if isinstance(request, wire.Request) and request.api.key == PRODUCE.key:
                trace = _RequestTrace(received[0], decoded=now())
                by_request[id(request)] = trace
                traces.append(trace)
            return request

        return wrapper

    def handle_produce(original: Any) -> Any:
        async def wrapper(broker: Any, request: Any, connection: Any) -> Any:
            trace = by_request.pop(id(request), None)
            if trace is not None:
                trace.handler = now()
                request_trace.set(trace)
                by_task[id(asyncio.current_task())] = trace
            body = await original(broker, request, connection)
            if trace is not None:
                trace.handler_done = now()
            return body

        return wrapper

    def encode_response_parts(original: Any) -> Any:
        def wrapper(*args: Any) -> list[Buffer]:
            response: list[Buffer] = original(*args)
            trace = request_trace.get()
            if trace is not None and not trace.encoded:
                trace.encoded = now()
            return response

        return wrapper

    def write_ready(original: Any) -> Any:
        def wrapper(self: Any, future: Any) -> None:
            heads = []
            for queued in self.in_flight:
                if not queued.done():
                    break
                heads.append(queued)
            original(self, future)
            written = now()
            for queued in heads:
                trace = by_task.pop(id(queued), None)
                if trace is not None:
                    trace.written = written

        return wrapper

    def append(original: Any) -> Any:
        def wrapper(self: Any, *args: Any) -> Any:
            future = original(self, *args)
            trace = request_trace.get()
            if trace is not None:
                trace.enqueued = trace.enqueued or now()
                by_future[id(future)] = trace
            return future

        return wrapper

    def start_flush(original: Any) -> Any:
        def wrapper(self: Any, pending: list[Any]) -> None:
            flush = _FlushTrace(started=now(), batches=len(pending))
            original(self, pending)
            by_object[self._flushes[-1].commit.object_key] = flush
            for item in pending:
                trace = by_future.pop(id(item.future), None)
                if trace is not None and trace.flush is None:
                    trace.flush = flush

        return wrapper

    def commit_group(original: Any) -> Any:
        async def wrapper(self: Any, group: list[Any]) -> None:
            await original(self, group)
            resolved = now()
            for flush in group:
                trace = by_object.pop(flush.commit.object_key, None)
                if trace is not None:
                    trace.resolved = resolved

        return wrapper

    def put(original: Any) -> Any:
        async def wrapper(self: Any, key: str, data: Any) -> None:
            flush = by_object.get(key)
            if flush is not None:
                flush.put_called = now()
            await original(self, key, data)
            if flush is not None:
                flush.put_returned = now()

        return wrapper

    def put_in_thread(original: Any) -> Any:
        def wrapper(self: Any, key: str, view: Any) -> None:
            flush = by_object.get(key)
            flush_trace.set(flush)  # for the fdatasync below
            if flush is not None:
                flush.put_thread = now()
            original(self, key, view)
            if flush is not None:
                flush.put_thread_done = now()

        return wrapper

    def timed(original: Any, record: Callable[[_FlushTrace, float, float], None]) -> Any:
        def wrapper(*args: Any) -> Any:
            start = now()
            try:
                return original(*args)
            finally:
                flush = flush_trace.get()
                if flush is not None:
                    record(flush, start, now())

        return wrapper

    def record_fdatasync(flush: _FlushTrace, start: float, end: float) -> None:
        flush.written = flush.written or start
        flush.fdatasync = (start, end)

    def commit_flushes(original: Any) -> Any:
        async def wrapper(self: Any, flushes: list[Any]) -> Any:
            group = [by_object.get(flush.object_key) for flush in flushes]
            called = now()
            for flush in group:
                if flush is not None:
                    flush.commit_called = called
                    flush.group = len(flushes)
            results = await original(self, flushes)
            returned = now()
            for flush in group:
                if flush is not None:
                    flush.commit_returned = returned
            return results

        return wrapper

    def put_then_commit(original: Any) -> Any:
        async def wrapper(self: Any, write: Any, flushes: list[Any]) -> Any:
            group = [trace for flush in flushes if (trace := by_object.get(flush.object_key)) is not None]
            called = now()
            for trace in group:
                trace.put_called = called
                trace.group = len(flushes)
            results = await original(self, write, flushes)
            returned = now()
            for trace in group:
                trace.commit_returned = returned
            return results

        return wrapper

    def sqlite_commit_in_thread(original: Any) -> Any:
        def wrapper(db: Any, flushes: list[Any]) -> Any:
            group = [trace for flush in flushes if (trace := by_object.get(flush.object_key)) is not None]

            def mark(field: str) -> None:
                for trace in group:
                    setattr(trace, field, now())

            def statement(sql: str) -> None:
                if sql == "COMMIT":
                    mark("commit_statement")

            mark("commit_thread")
            db.set_trace_callback(statement)
            try:
                return original(db, flushes)
            finally:
                db.set_trace_callback(None)
                mark("commit_thread_done")

        return wrapper

    wrap(server.Connection, "buffer_updated", buffer_updated)
    wrap(server.Connection, "_write_ready", write_ready)
    wrap(wire, "decode_request", decode_request)
    wrap(wire, "encode_response_parts", encode_response_parts)
    HANDLERS[PRODUCE.key] = handle_produce(HANDLERS[PRODUCE.key])
    wrap(log.PartitionLog, "append", append)
    wrap(log.PartitionLog, "_start_flush", start_flush)
    wrap(log.PartitionLog, "_commit", commit_group)
    wrap(filesystem.FilesystemObjectStore, "put", put)
    wrap(s3.S3ObjectStore, "put", put)
    wrap(volumes.Volumes, "put", put_in_thread)  # a folder packs flush objects
    volumes.os = _TimedOs(timed(os.fdatasync, record_fdatasync))  # type: ignore[attr-defined,assignment]
    wrap(sqlite_log.SqliteLog, "commit_flushes", commit_flushes)
    wrap(sqlite_log.SqliteLog, "commit_flushes_after", put_then_commit)
    wrap(sqlite_log, "_commit_flushes", sqlite_commit_in_thread)
    wrap(postgres_log.PostgresLog, "commit_flushes", commit_flushes)
    return traces


class _TimedOs:
    """The os module as the volumes of a folder store see it, with a timed fdatasync."""

    def __init__(self, fdatasync: Callable[[int], None]) -> None:
        self.fdatasync = fdatasync

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


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
    """`streamhouse serve` with the wrappers; print the traces' stage durations as one line at exit."""
    traces = install()
    collections = time_collections()
    from broker.cli import main

    try:
        main(["serve", *argv])
    finally:
        print(TRACE_PREFIX + json.dumps(stage_durations(traces) | collections), flush=True)


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
