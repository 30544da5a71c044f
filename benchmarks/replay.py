"""The replay load generator: pre-encoded Produce v9 requests, pipelined over several connections.

Each connection checks the server first (ApiVersions, then Metadata: the topic must have enough
partitions), then keeps `depth` Produce requests in flight for `seconds`: every response that comes
back is answered by the next request, written in one writelines call per read. A request carries one
batch of `batch_records` records of `record_bytes` for one partition; connection c cycles over the
partitions c, c + connections, ... All request bytes are encoded before the clock starts, so the
generator only frames responses. Every 64th response (and the last) is decoded and must carry no error.

Ingest MB/s counts record values acknowledged (10^6 bytes), as the throughput figures do.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass

import uvloop

from benchmarks.servers import BenchmarkError
from benchmarks.throughput import MB, payload_of
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Compression, Record, build_batch

PRODUCE_VERSION = 9
CHECK_EVERY = 64
_SIZE = struct.Struct(">i")


@dataclass
class ReplayResult:
    connections: int
    depth: int
    record_bytes: int
    batch_records: int
    seconds: float
    requests: int
    msgs_per_s: float
    mb_per_s: float


def produce_request(topic: str, partition: int, acks: int, record_bytes: int, batch_records: int) -> bytes:
    batch = build_batch(
        [Record(key=None, value=payload_of(record_bytes))] * batch_records, compression=Compression.NONE
    )
    data = PRODUCE.Request.TopicProduceData
    body = PRODUCE.Request(
        acks=acks,
        timeout_ms=30_000,
        topic_data=[data(name=topic, partition_data=[data.PartitionProduceData(index=partition, records=batch)])],
    )
    return wire.encode_request(PRODUCE, PRODUCE_VERSION, 1, "replay", body)


def check_produce_response(frame: bytes) -> None:
    _, body = wire.decode_response(PRODUCE, PRODUCE_VERSION, frame)
    for topic in body.responses:
        for partition in topic.partition_responses:
            if partition.error_code != 0:
                raise BenchmarkError(
                    f"Produce answered error {partition.error_code} for {topic.name}[{partition.index}]"
                )


async def check_server(host: str, port: int, topic: str, partitions: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(wire.encode_request(API_VERSIONS, 3, 1, "replay", API_VERSIONS.Request()))
        _, versions = wire.decode_response(API_VERSIONS, 3, await read_frame(reader))
        if versions.error_code != 0:
            raise BenchmarkError(f"ApiVersions answered error {versions.error_code}")
        request = METADATA.Request(topics=[METADATA.Request.MetadataRequestTopic(name=topic)])
        writer.write(wire.encode_request(METADATA, 12, 2, "replay", request))
        _, metadata = wire.decode_response(METADATA, 12, await read_frame(reader))
        found = {t.name: len(t.partitions) for t in metadata.topics if t.error_code == 0}
        if found.get(topic, 0) < partitions:
            raise BenchmarkError(f"{topic} has {found.get(topic, 0)} partitions, the replay needs {partitions}")
    finally:
        writer.close()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    size = _SIZE.unpack(await reader.readexactly(4))[0]
    return await reader.readexactly(size)


class ReplayConnection(asyncio.Protocol):
    def __init__(self, requests: list[bytes], depth: int, deadline: float, done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.depth = depth
        self.deadline = deadline
        self.done = done
        self.sent = 0
        self.answered = 0
        self.pending = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send(self.depth)

    def send(self, count: int) -> None:
        assert self.transport is not None
        requests, first = self.requests, self.sent
        self.transport.writelines([requests[(first + i) % len(requests)] for i in range(count)])
        self.sent += count

    def data_received(self, data: bytes) -> None:
        pending = self.pending
        pending += data
        position = answered = 0
        while len(pending) - position >= 4:
            end = position + 4 + _SIZE.unpack_from(pending, position)[0]
            if end > len(pending):
                break
            if (self.answered + answered) % CHECK_EVERY == 0:
                self.check(bytes(pending[position + 4 : end]))
            position, answered = end, answered + 1
        if not answered:
            return
        del pending[:position]
        self.answered += answered
        if time.perf_counter() < self.deadline:
            self.send(answered)
        elif self.answered == self.sent and not self.done.done():
            self.done.set_result(None)

    def check(self, frame: bytes) -> None:
        try:
            check_produce_response(frame)
        except Exception as exc:
            if not self.done.done():
                self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(BenchmarkError(f"the server closed a connection: {exc}"))


async def replay(
    bootstrap: str,
    topic: str,
    partitions: int,
    connections: int,
    depth: int,
    record_bytes: int,
    batch_records: int,
    seconds: float,
) -> ReplayResult:
    host, port = bootstrap.rsplit(":", 1)
    await check_server(host, int(port), topic, partitions)
    per_connection = [
        [
            produce_request(topic, p, -1, record_bytes, batch_records)
            for p in range(c % partitions, partitions, connections)
        ]
        or [produce_request(topic, c % partitions, -1, record_bytes, batch_records)]
        for c in range(connections)
    ]
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + seconds
    protocols: list[ReplayConnection] = []
    for requests in per_connection:
        protocol = ReplayConnection(requests, depth, deadline, loop.create_future())
        await loop.create_connection(lambda p=protocol: p, host, int(port))  # type: ignore[misc]
        protocols.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(p.done for p in protocols)), seconds + 60)
    elapsed = time.perf_counter() - started
    for protocol in protocols:
        assert protocol.transport is not None
        protocol.transport.close()
    answered = sum(p.answered for p in protocols)
    records = answered * batch_records
    return ReplayResult(
        connections=connections,
        depth=depth,
        record_bytes=record_bytes,
        batch_records=batch_records,
        seconds=elapsed,
        requests=answered,
        msgs_per_s=records / elapsed,
        mb_per_s=records * record_bytes / MB / elapsed,
    )


def run_replay(
    bootstrap: str,
    topic: str,
    partitions: int,
    connections: int = 4,
    depth: int = 8,
    record_bytes: int = 1024,
    batch_records: int = 64,
    seconds: float = 10.0,
) -> ReplayResult:
    return uvloop.run(replay(bootstrap, topic, partitions, connections, depth, record_bytes, batch_records, seconds))
