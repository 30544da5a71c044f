"""Many partitions and many idle clients: `topics` x `partitions` created through CreateTopics, then
`connections` client connections that each ask ApiVersions once and then stay idle.

Figures: the broker's RSS (VmRSS) with all of that in place, and the time of a Metadata request for all
topics (v12, topics null) from sending it to the last byte of the response, the median and the slowest
of `repeats`; the response is decoded once afterwards and must list every topic and partition.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from benchmarks.servers import BenchmarkError, Server, rss_mib
from streamhouse.broker.client import BrokerConnection
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.metadata import METADATA

METADATA_VERSION = 12


@dataclass
class ScaleResult:
    topics: int
    partitions: int
    idle_connections: int
    create_seconds: float
    rss_mib: float
    metadata_median_ms: float
    metadata_max_ms: float
    metadata_response_bytes: int


def create_topics(bootstrap: str, prefix: str, topics: int, partitions: int, timeout: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    futures = admin.create_topics(
        [NewTopic(f"{prefix}-{t:03d}", partitions, 1) for t in range(topics)], request_timeout=timeout
    )
    for future in futures.values():
        future.result(timeout)
    admin.poll(0)


def metadata_round_trips(bootstrap: str, repeats: int) -> tuple[list[float], bytes]:
    """Seconds from sending an all-topics Metadata request to its last byte, and the last response."""
    request = wire.encode_request(METADATA, METADATA_VERSION, 1, "scale", METADATA.Request(topics=None))
    times, frame = [], b""
    with BrokerConnection(bootstrap, timeout=60) as connection:
        for _ in range(repeats):
            started = time.perf_counter()
            connection.send_raw(request)
            frame = connection.receive_frame()
            times.append(time.perf_counter() - started)
    return times, frame


def run_scale(
    server: Server, prefix: str, topics: int, partitions: int, connections: int, repeats: int, timeout: float
) -> ScaleResult:
    started = time.perf_counter()
    create_topics(server.bootstrap, prefix, topics, partitions, timeout)
    create_seconds = time.perf_counter() - started
    idle = [BrokerConnection(server.bootstrap, timeout) for _ in range(connections)]
    try:
        for connection in idle:
            connection.request(API_VERSIONS, 3, API_VERSIONS.Request())
        metadata_round_trips(server.bootstrap, 1)  # warm-up: caches and first-use paths
        times, frame = metadata_round_trips(server.bootstrap, repeats)
        rss = rss_mib(server.pid)
    finally:
        for connection in idle:
            connection.close()
    _, body = wire.decode_response(METADATA, METADATA_VERSION, frame)
    ours = [t for t in body.topics if t.name and t.name.startswith(prefix + "-")]
    listed = sum(len(t.partitions) for t in ours)
    if len(ours) != topics or listed != topics * partitions:
        raise BenchmarkError(f"Metadata listed {len(ours)} topics, {listed} partitions of {topics} x {partitions}")
    return ScaleResult(
        topics=topics,
        partitions=topics * partitions,
        idle_connections=connections,
        create_seconds=create_seconds,
        rss_mib=rss,
        metadata_median_ms=statistics.median(times) * 1000,
        metadata_max_ms=max(times) * 1000,
        metadata_response_bytes=len(frame) + 4,
    )
