"""The ceiling: the least a Kafka broker in one Python process must do to ingest Produce requests.

Run: `python -m benchmarks.reference PORT LOG_FILE` (benchmarks/replay.py starts it).

It frames requests (4-byte size prefix), parses Produce v9 with plain struct calls, checks the CRC-32C
of every record batch, appends the batches to LOG_FILE (no fsync) and answers each Produce with a
response encoded once per (topic, partitions) and reused with the correlation id patched in.
ApiVersions and Metadata (every asked topic with PARTITIONS partitions led by this server) are answered
so that a load generator can check where it is; any other request, a bad CRC or an older Produce
version closes the connection. No offsets, no index, no metadata store: that is the point.
"""

from __future__ import annotations

import asyncio
import signal
import struct
import sys
from typing import Any, BinaryIO

import uvloop

from benchmarks.codec import handwritten_produce_v9
from streamhouse.broker.handlers.api_versions import api_versions_body
from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.records import iter_batches

PARTITIONS = 16
PRODUCE_VERSION = 9
_SIZE = struct.Struct(">i")
_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
_CORRELATION_AT = 4  # in a response frame, after the size prefix


def with_correlation(frame: bytes, correlation_id: int) -> bytearray:
    patched = bytearray(frame)
    _SIZE.pack_into(patched, _CORRELATION_AT, correlation_id)
    return patched


def produce_response(topics: list[tuple[str | None, list[tuple[int, Any]]]]) -> bytes:
    response = PRODUCE.Response
    topic = response.TopicProduceResponse
    body = response(
        responses=[
            topic(
                name=name,
                partition_responses=[
                    topic.PartitionProduceResponse(index=index, error_code=0, base_offset=0) for index, _ in partitions
                ],
            )
            for name, partitions in topics
        ]
    )
    return wire.encode_response(PRODUCE, PRODUCE_VERSION, 0, body)


def metadata_response(request: wire.Request[Any], port: int) -> bytes:
    response = METADATA.Response
    topic = response.MetadataResponseTopic
    names = [t.name for t in request.body.topics or []]
    body = response(
        brokers=[response.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=port)],
        cluster_id="reference",
        controller_id=0,
        topics=[
            topic(
                error_code=0,
                name=name,
                partitions=[
                    topic.MetadataResponsePartition(
                        error_code=0, partition_index=p, leader_id=0, replica_nodes=[0], isr_nodes=[0]
                    )
                    for p in range(PARTITIONS)
                ],
            )
            for name in names
        ],
    )
    return wire.encode_response(METADATA, request.version, request.correlation_id, body)


class ReferenceConnection(asyncio.BufferedProtocol):
    def __init__(self, log: BinaryIO, port: int, responses: dict[tuple[object, ...], bytes]) -> None:
        self.log = log
        self.port = port
        self.responses = responses
        self.receive = bytearray(1 << 20)
        self.pending = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.receive

    def buffer_updated(self, nbytes: int) -> None:
        pending = self.pending
        pending += memoryview(self.receive)[:nbytes]
        position, answers = 0, []
        with memoryview(pending) as view:
            while len(pending) - position >= 4:
                end = position + 4 + _SIZE.unpack_from(pending, position)[0]
                if end > len(pending):
                    break
                try:
                    answers.append(self.answer(view[position + 4 : end]))
                except ProtocolError as exc:
                    print(f"reference server: closing a connection: {exc}", file=sys.stderr)
                    assert self.transport is not None
                    self.transport.close()
                    return
                position = end
        del pending[:position]
        assert self.transport is not None
        self.transport.writelines(answers)

    def answer(self, frame: memoryview) -> bytes | bytearray:
        api_key, version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame)
        if api_key == PRODUCE.key and version == PRODUCE_VERSION:
            request = handwritten_produce_v9(bytes(frame))
            for _, partitions in request["topics"]:
                for _, records in partitions:
                    for _ in iter_batches(records):  # raises CorruptBatchError on a bad CRC
                        pass
                    self.log.write(records)
            shape = tuple((name, tuple(index for index, _ in parts)) for name, parts in request["topics"])
            if shape not in self.responses:
                self.responses[shape] = produce_response(request["topics"])
            return with_correlation(self.responses[shape], correlation_id)
        if api_key == API_VERSIONS.key:
            return wire.encode_response(API_VERSIONS, min(version, 3), correlation_id, api_versions_body())
        if api_key == METADATA.key:
            decoded = wire.decode_request(bytes(frame), allow_trailing=True)
            if isinstance(decoded, wire.Request):
                return metadata_response(decoded, self.port)
        raise ProtocolError(f"the reference server does not answer API {api_key} v{version}")


async def serve(port: int, log_path: str) -> None:
    responses: dict[tuple[object, ...], bytes] = {}
    with open(log_path, "ab", buffering=1 << 20) as log:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: ReferenceConnection(log, port, responses), "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)  # so that the log's buffer is written out
        async with server:
            await stop.wait()


def main() -> None:
    uvloop.run(serve(int(sys.argv[1]), sys.argv[2]))


if __name__ == "__main__":
    main()
