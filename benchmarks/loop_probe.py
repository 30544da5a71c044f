"""Event-loop stalls as another client sees them: ApiVersions round trips under a probe load.

Run alone: `python -m benchmarks.loop_probe` starts one StreamHouse broker (embedded default), creates
`--topics` topics (1000) with a record in each (so that /metrics has a series per topic), then per probe
runs the probe's load on its own connection for `--seconds` (20) while a second connection sends
ApiVersions one at a time (a pause of 5 ms between) and times each round trip. It prints, per probe,
the round trips' count, p50, p99 and max in milliseconds; the target is p99 <= 20 ms and max <= 250 ms.

Probes: `idle` (no load: the floor), `metadata` (all-topics Metadata pipelined, `--window` (16) in
flight, answers read), `metrics` (GET /metrics over and over, one at a time). `--probe NAME` runs
one (repeatable; default all). `--broker-arg FLAG` passes a flag to the broker (repeatable).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchmarks.connection_memory import all_topics_metadata_frame, create_topics
from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess

TOPIC_PREFIX = "probe-topic-"
API_VERSIONS_VERSION = 3
PAUSE_BETWEEN_ROUND_TRIPS = 0.005


def produce_one_record_each(bootstrap: str, count: int) -> None:
    """One record in every probe topic, in one Produce request (acks=1)."""
    data = PRODUCE.Request.TopicProduceData
    batch = build_batch([Record(key=None, value=b"probe")])
    topics = [
        data(name=f"{TOPIC_PREFIX}{index:05d}", partition_data=[data.PartitionProduceData(index=0, records=batch)])
        for index in range(count)
    ]
    with BrokerConnection(bootstrap, timeout=60) as connection:
        response = connection.request(PRODUCE, 9, PRODUCE.Request(acks=1, timeout_ms=30_000, topic_data=topics))
    errors = {p.error_code for topic in response.responses for p in topic.partition_responses} - {0}
    if errors:
        raise RuntimeError(f"Produce failed: error codes {sorted(errors)}")


def pipelined_metadata(broker: BrokerProcess, stop: threading.Event, window: int) -> None:
    host, _, port = broker.bootstrap.rpartition(":")
    with socket.create_connection((host, int(port))) as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"".join(all_topics_metadata_frame(index) for index in range(window)))
        correlation_id = window
        while not stop.is_set():
            size = int.from_bytes(reader.read(4), "big")
            reader.read(size)
            sock.sendall(all_topics_metadata_frame(correlation_id))
            correlation_id += 1


def metrics_scrapes(broker: BrokerProcess, stop: threading.Event, window: int) -> None:
    while not stop.is_set():
        with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=30) as answer:
            answer.read()


def no_load(broker: BrokerProcess, stop: threading.Event, window: int) -> None:
    stop.wait()


PROBES: dict[str, Callable[[BrokerProcess, threading.Event, int], None]] = {
    "idle": no_load,
    "metadata": pipelined_metadata,
    "metrics": metrics_scrapes,
}


def api_versions_round_trips(bootstrap: str, seconds: float) -> list[float]:
    """Round-trip times of ApiVersions requests sent one at a time for `seconds`, in seconds."""
    host, _, port = bootstrap.rpartition(":")
    times = []
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        body = API_VERSIONS.Request(client_software_name="probe", client_software_version="1")
        deadline = time.monotonic() + seconds
        correlation_id = 0
        while time.monotonic() < deadline:
            frame = wire.encode_request(API_VERSIONS, API_VERSIONS_VERSION, correlation_id, "probe", body)
            sent = time.perf_counter()
            sock.sendall(frame)
            size = int.from_bytes(reader.read(4), "big")
            reader.read(size)
            times.append(time.perf_counter() - sent)
            correlation_id += 1
            time.sleep(PAUSE_BETWEEN_ROUND_TRIPS)
    return times


def run_probe(broker: BrokerProcess, name: str, seconds: float, window: int) -> None:
    stop = threading.Event()
    load = threading.Thread(target=PROBES[name], args=(broker, stop, window), daemon=True)
    load.start()
    time.sleep(0.5)  # the load under way
    times = api_versions_round_trips(broker.bootstrap, seconds)
    stop.set()
    load.join(30)
    milliseconds = sorted(1000 * value for value in times)
    p99 = milliseconds[min(len(milliseconds) - 1, int(len(milliseconds) * 0.99))]
    print(
        f"{name:9} {len(milliseconds):6d} round trips  p50 {statistics.median(milliseconds):7.2f} ms  "
        f"p99 {p99:7.2f} ms  max {milliseconds[-1]:7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--window", type=int, default=16, help="Metadata requests in flight (metadata probe)")
    parser.add_argument("--probe", action="append", choices=sorted(PROBES), help="default: all")
    parser.add_argument("--broker-arg", action="append", default=[], metavar="FLAG")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        broker = BrokerProcess(Path(data_dir), args.broker_arg).start()
        try:
            create_topics(broker.bootstrap, args.topics, TOPIC_PREFIX)
            produce_one_record_each(broker.bootstrap, args.topics)
            print(f"{args.topics} topics; ApiVersions round trips for {args.seconds:g} s per probe")
            for name in args.probe or list(PROBES):
                run_probe(broker, name, args.seconds, args.window)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
