"""Broker memory under clients that pipeline all-topics Metadata and never read the answers.

Run alone: `python -m benchmarks.connection_memory` starts one StreamHouse broker (embedded default),
creates `--topics` topics (300), then opens `--clients` connections (4) that each send all-topics
Metadata requests as fast as the socket takes them, for `--seconds` (40), reading nothing. It prints
the broker's RSS before, every 5 s during, and 2 s and 10 s after the clients closed, in MiB, then
the peak (VmHWM). `--broker-arg FLAG` passes a flag to the broker (repeatable).

The helpers here (topics made with CreateTopics, the all-topics Metadata frame) are shared with
benchmarks/loop_probe.py.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.servers import peak_rss_mib, rss_mib
from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol import wire
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.metadata import METADATA
from tests.brokerproc import BrokerProcess

METADATA_VERSION = 12
CREATE_BATCH = 100  # topics per CreateTopics request


def create_topics(bootstrap: str, count: int, prefix: str = "probe-topic-") -> None:
    """`count` one-partition topics, CREATE_BATCH per CreateTopics request."""
    creatable = CREATE_TOPICS.Request.CreatableTopic
    names = [f"{prefix}{index:05d}" for index in range(count)]
    with BrokerConnection(bootstrap, timeout=60) as connection:
        for start in range(0, count, CREATE_BATCH):
            topics = [
                creatable(name=name, num_partitions=1, replication_factor=1, assignments=[], configs=[])
                for name in names[start : start + CREATE_BATCH]
            ]
            response = connection.request(CREATE_TOPICS, 5, CREATE_TOPICS.Request(topics=topics, timeout_ms=30_000))
            errors = {topic.error_code for topic in response.topics} - {0, 36}  # 36: TOPIC_ALREADY_EXISTS
            if errors:
                raise RuntimeError(f"CreateTopics failed: error codes {sorted(errors)}")


def all_topics_metadata_frame(correlation_id: int) -> bytes:
    """A Metadata request for every topic (a null topic list)."""
    body = METADATA.Request(topics=None, allow_auto_topic_creation=False)
    return wire.encode_request(METADATA, METADATA_VERSION, correlation_id, "memory-probe", body)


def flood_without_reading(bootstrap: str, stop: threading.Event) -> int:
    """Send all-topics Metadata requests until `stop` or the broker stops taking them; returns bytes sent."""
    host, _, port = bootstrap.rpartition(":")
    frames = b"".join(all_topics_metadata_frame(index) for index in range(100))
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                sent += sock.send(frames)
            except TimeoutError:
                continue  # the broker stopped reading us: its socket buffer is full
            except OSError:
                break
        stop.wait()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--topics", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--broker-arg", action="append", default=[], metavar="FLAG")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        broker = BrokerProcess(Path(data_dir), args.broker_arg).start()
        try:
            assert broker.process is not None
            pid = broker.process.pid
            create_topics(broker.bootstrap, args.topics)
            time.sleep(1)
            before = rss_mib(pid)
            print(f"RSS before: {before:.1f} MiB ({args.topics} topics)")
            stop = threading.Event()
            threads = [
                threading.Thread(target=flood_without_reading, args=(broker.bootstrap, stop))
                for _ in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            started = time.monotonic()
            during = []
            while (elapsed := time.monotonic() - started) < args.seconds:
                time.sleep(min(5.0, args.seconds - elapsed))
                during.append(rss_mib(pid))
                print(f"RSS during, {time.monotonic() - started:4.0f} s: {during[-1]:.1f} MiB")
            stop.set()
            for thread in threads:
                thread.join()
            time.sleep(2)
            print(f"RSS 2 s after the clients closed: {rss_mib(pid):.1f} MiB")
            time.sleep(8)
            after = rss_mib(pid)
            print(f"RSS 10 s after the clients closed: {after:.1f} MiB")
            print(
                f"added at most {max(during) - before:.1f} MiB during, {after - before:.1f} MiB after; "
                f"peak (VmHWM) {peak_rss_mib(pid):.1f} MiB"
            )
            with BrokerConnection(broker.bootstrap) as check:
                check.request(METADATA, METADATA_VERSION, METADATA.Request(topics=[], allow_auto_topic_creation=False))
            print("the broker still answers")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
