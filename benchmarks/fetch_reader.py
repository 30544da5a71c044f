"""The raw Fetch reader: a topic read from its start with Fetch v12, without a client library.

What a broker serves when the reader does no per-record work. confluent-kafka's Python consumer makes
a Python object per record, and with 100 B records it sets the pace of the throughput scenario's
consume with either broker. This reader keeps one request in flight on one connection. Each request
asks every partition not yet read to the end for up to 1 MiB, from the offset after the last batch
received, with max_wait_ms 500 (Tansu answers at once with nothing when max_wait_ms is 0).
Records are counted from batch headers: nothing is decompressed, and no CRC is checked.
The read must end at exactly the offsets produced per partition.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.servers import BenchmarkError, Server, cpu_seconds
from streamhouse.broker.client import BrokerConnection, ClientError
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.records import iter_batches

FETCH_VERSION = 12
PARTITION_MAX_BYTES = 1024 * 1024  # librdkafka's default max.partition.fetch.bytes
MAX_WAIT_MS = 500


@dataclass
class RawFetchResult:
    records: int
    fetches: int
    seconds: float
    broker_cpu_seconds: float


def fetch_request(topic: str, offsets: dict[int, int]) -> Any:
    """A Fetch request body for `topic` at `offsets` (partition: next offset)."""
    request = FETCH.Request
    partitions = [
        request.FetchTopic.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=PARTITION_MAX_BYTES)
        for p, o in offsets.items()
    ]
    return request(
        replica_id=-1,
        max_wait_ms=MAX_WAIT_MS,
        min_bytes=1,
        max_bytes=50 * 1024 * 1024,
        isolation_level=0,
        topics=[request.FetchTopic(topic=topic, partitions=partitions)],
    )


def advance(partition: Any, offsets: dict[int, int]) -> int:
    """Move the partition's next offset past the whole batches in its answer; the records newly read."""
    if partition.error_code != 0:
        raise BenchmarkError(f"Fetch answered error {partition.error_code} for partition {partition.partition_index}")
    index = partition.partition_index
    start = offsets[index]
    for header, _ in iter_batches(partition.records or b"", verify_crc=False, allow_partial_tail=True):
        offsets[index] = max(offsets[index], header.base_offset + header.last_offset_delta + 1)
    return offsets[index] - start


def read_topic(server: Server, topic: str, expected: dict[int, int], stall: float) -> RawFetchResult:
    """Read `topic` from offset 0 until each partition is at `expected` (partition: records produced).

    Fails after `stall` seconds without a new record.
    """
    offsets = dict.fromkeys(expected, 0)
    records = fetches = 0
    try:
        with BrokerConnection(server.bootstrap, timeout=stall, client_id="raw-fetch") as connection:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cpu_started = cpu_seconds(server.pid)
            started = last_progress = time.perf_counter()
            while left := {p: o for p, o in offsets.items() if o < expected[p]}:
                fetches += 1
                response = connection.request(FETCH, FETCH_VERSION, fetch_request(topic, left))
                read = sum(advance(part, offsets) for reply in response.responses for part in reply.partitions)
                now = time.perf_counter()
                if read:
                    records, last_progress = records + read, now
                elif now - last_progress > stall:
                    raise BenchmarkError(f"{topic}: raw Fetch read {records} records, then nothing for {stall:.0f} s")
            seconds = time.perf_counter() - started
            cpu = cpu_seconds(server.pid) - cpu_started
    except (ClientError, ProtocolError) as exc:
        raise BenchmarkError(f"{topic}: raw Fetch failed after {records} records: {exc}") from exc
    if offsets != expected:
        raise BenchmarkError(f"{topic}: raw Fetch read to offsets {offsets}, produced {expected}")
    return RawFetchResult(records, fetches, seconds, cpu)
