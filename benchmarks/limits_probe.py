"""Does one client's heavy request hold the event loop? Issue 29, items 2 and 4, measured.

Another client (a process of its own) sends ApiVersions one after another while this one sends:
- an all-topics Metadata with 30,000 topics (the same answer again, and after a topic change each time);
- one Produce of 1,000,000 keyed records, zstd, to a compacted topic (its keys are read);
- /metrics scrapes of a broker that saw 20,000 invalid topic names and produces to 5,000 topics;
and reports the round trips' p50, p99 and worst (the target: 20 ms p99, 250 ms worst), with the
heavy requests' own times. It also measures what 2,000 distinct invalid topic names add to /metrics.

    python -m benchmarks.limits_probe [--tree PATH] [--topics 30000] [--measure metadata ...]

--tree runs the broker from another checkout (a before/after comparison: `git archive <base> | tar -x -C
/tmp/base`, then --tree /tmp/base). Run it once per tree: it takes minutes on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Compression, Record, build_batch
from tests.brokerproc import BrokerProcess

PROBE_PAUSE_S = 0.005
CREATE_BATCH = 1000  # topics per CreateTopics request
PRODUCE_TOPICS_PER_REQUEST = 500
COMPACTED_RECORDS = 1_000_000
METADATA_ROUNDS = 10
CHANGED_ROUNDS = 5
SCRAPES = 3
INVALID_NAMES_FOR_TARGET = 2000
INVALID_NAMES_FOR_SCRAPE = 20_000
PRODUCED_TOPICS = 5000
BATCH_CACHE = Path(tempfile.gettempdir()) / "limits-probe-1m-zstd.batch"


def _probe(bootstrap: str, stop: Event, results: Connection) -> None:
    """ApiVersions round trips, one at a time with a short pause, until told to stop: their seconds."""
    body = API_VERSIONS.Request(client_software_name="probe", client_software_version="1")
    seconds = []
    with BrokerConnection(bootstrap, timeout=120) as connection:
        while not stop.is_set():
            started = time.perf_counter()
            connection.request(API_VERSIONS, 3, body)
            seconds.append(time.perf_counter() - started)
            time.sleep(PROBE_PAUSE_S)
    results.send(seconds)


@contextmanager
def probed(bootstrap: str, figures: dict[str, Any]) -> Iterator[None]:
    """Run the probe while the block runs; its round trips' p50, p99 and worst (ms) go into `figures`."""
    stop = multiprocessing.Event()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_probe, args=(bootstrap, stop, sender))
    process.start()
    time.sleep(0.5)  # the probe's connection is up and round-tripping
    try:
        yield
    finally:
        time.sleep(0.2)
        stop.set()
        seconds = sorted(receiver.recv())
        process.join()
    figures["probe_round_trips"] = len(seconds)
    figures["probe_p50_ms"] = round(statistics.median(seconds) * 1000, 2)
    figures["probe_p99_ms"] = round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))] * 1000, 2)
    figures["probe_worst_ms"] = round(seconds[-1] * 1000, 2)


def _raw(connection: BrokerConnection, api: Any, version: int, body: Any) -> int:
    """Send a request and read its answer's frame undecoded (decoding would hold this process): its size."""
    connection.send_raw(wire.encode_request(api, version, 1, "limits-probe", body))
    return len(connection.receive_frame())


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return round((time.perf_counter() - started) * 1000, 1)


def _create_topics(connection: BrokerConnection, names: list[str], configs: dict[str, str] | None = None) -> None:
    topic = CREATE_TOPICS.Request.CreatableTopic
    config = [topic.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()]
    for start in range(0, len(names), CREATE_BATCH):
        wanted = [
            topic(name=name, num_partitions=1, replication_factor=1, assignments=[], configs=config)
            for name in names[start : start + CREATE_BATCH]
        ]
        connection.request(CREATE_TOPICS, 7, CREATE_TOPICS.Request(topics=wanted, timeout_ms=600_000))


def _produce_to_each(connection: BrokerConnection, names: list[str]) -> None:
    """One small record to partition 0 of each topic named, many topics per request."""
    batch = build_batch([Record(b"k", b"v")])
    data = PRODUCE.Request.TopicProduceData
    for start in range(0, len(names), PRODUCE_TOPICS_PER_REQUEST):
        topics = [
            data(name=name, partition_data=[data.PartitionProduceData(index=0, records=batch)])
            for name in names[start : start + PRODUCE_TOPICS_PER_REQUEST]
        ]
        _raw(connection, PRODUCE, 9, PRODUCE.Request(acks=1, timeout_ms=60_000, topic_data=topics))


def _metrics(broker: BrokerProcess) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=600) as response:
        return bytes(response.read())


EVERY_TOPIC = METADATA.Request(topics=None)


def measure_labels(broker: BrokerProcess, connection: BrokerConnection) -> dict[str, Any]:
    before = len(_metrics(broker))
    _produce_to_each(connection, [f"invalid name {n}!" for n in range(INVALID_NAMES_FOR_TARGET)])
    after = len(_metrics(broker))
    return {"metrics_bytes_before": before, "metrics_bytes_after": after, "added_bytes": after - before}


def measure_compacted(broker: BrokerProcess, connection: BrokerConnection) -> dict[str, Any]:
    if not BATCH_CACHE.exists():
        records = [Record(b"%d" % (n % 100), None) for n in range(COMPACTED_RECORDS)]
        BATCH_CACHE.write_bytes(build_batch(records, compression=Compression.ZSTD))
    batch = BATCH_CACHE.read_bytes()
    _create_topics(connection, ["probe-compacted"], {"cleanup.policy": "compact", "max.message.bytes": "8388608"})
    data = PRODUCE.Request.TopicProduceData
    body = PRODUCE.Request(
        acks=1,
        timeout_ms=600_000,
        topic_data=[data(name="probe-compacted", partition_data=[data.PartitionProduceData(index=0, records=batch)])],
    )
    figures: dict[str, Any] = {"batch_bytes": len(batch), "records": COMPACTED_RECORDS}
    with probed(broker.bootstrap, figures):
        figures["produce_ms"] = _timed(lambda: connection.request(PRODUCE, 9, body))
    return figures


def measure_metadata(broker: BrokerProcess, connection: BrokerConnection, topics: int) -> dict[str, Any]:
    started = time.perf_counter()
    _create_topics(connection, [f"probe-topic-{n:05d}" for n in range(topics)])
    figures: dict[str, Any] = {"topics": topics, "create_s": round(time.perf_counter() - started, 1)}
    with probed(broker.bootstrap, figures):
        times = [_timed(lambda: _raw(connection, METADATA, 12, EVERY_TOPIC)) for _ in range(METADATA_ROUNDS)]
    figures["metadata_ms"] = times
    changed: dict[str, Any] = {}
    with probed(broker.bootstrap, changed):
        changed_times = []
        for round_number in range(CHANGED_ROUNDS):
            _create_topics(connection, [f"probe-changed-{round_number}"])
            changed_times.append(_timed(lambda: _raw(connection, METADATA, 12, EVERY_TOPIC)))
    changed["metadata_ms"] = changed_times
    figures["after_each_change"] = changed
    return figures


def measure_metrics(broker: BrokerProcess, connection: BrokerConnection, topics: int) -> dict[str, Any]:
    _produce_to_each(connection, [f"another invalid name {n}!" for n in range(INVALID_NAMES_FOR_SCRAPE)])
    _produce_to_each(connection, [f"probe-topic-{n:05d}" for n in range(min(PRODUCED_TOPICS, topics))])
    figures: dict[str, Any] = {}
    sizes = []
    with probed(broker.bootstrap, figures):
        times = []
        for _ in range(SCRAPES):
            started = time.perf_counter()
            sizes.append(len(_metrics(broker)))
            times.append(round((time.perf_counter() - started) * 1000, 1))
    figures["scrape_ms"] = times
    figures["metrics_bytes"] = sizes[-1]
    return figures


MEASURES = ("labels", "compacted", "metadata", "metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="run the broker from this checkout (default: this one)")
    parser.add_argument("--topics", type=int, default=30_000)
    parser.add_argument("--measure", action="append", choices=MEASURES, help="repeatable; default: all")
    args = parser.parse_args()
    measures = args.measure or list(MEASURES)
    wrapper = ["env", f"--chdir={args.tree.resolve()}"] if args.tree else []
    with tempfile.TemporaryDirectory() as data_dir:
        broker = BrokerProcess(
            Path(data_dir) / "broker", ["--compaction-interval-ms", "86400000"], wrapper=wrapper, start_timeout=120
        ).start()
        results: dict[str, Any] = {"tree": str(args.tree or Path(__file__).parents[1])}
        try:
            with BrokerConnection(broker.bootstrap, timeout=600) as connection:
                idle: dict[str, Any] = {}
                with probed(broker.bootstrap, idle):
                    time.sleep(2)
                results["idle"] = idle
                if "labels" in measures:
                    results["labels"] = measure_labels(broker, connection)
                if "compacted" in measures:
                    results["compacted"] = measure_compacted(broker, connection)
                if "metadata" in measures:
                    results["metadata"] = measure_metadata(broker, connection, args.topics)
                if "metrics" in measures:
                    results["metrics"] = measure_metrics(broker, connection, args.topics)
        finally:
            broker.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
