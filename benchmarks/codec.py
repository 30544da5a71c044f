"""Codec speed: our compiled construct codecs against a hand-written struct parser.

Run: `python -m benchmarks.codec`. Prints microseconds per operation for
- a Produce v9 request, 1 topic / 1 partition / 16 KiB of records: decode and encode,
  and the same decode with a hand-written `struct` parser (the ratio is the figure to watch);
- a Fetch v12 response of 10 partitions x 64 KiB: encode and decode;
- a Metadata v12 response of 100 topics x 12 partitions: encode and decode.
"""

from __future__ import annotations

import struct
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from streamhouse.protocol import wire
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Compression, Record, build_batch

_HEADER = struct.Struct(">hhih")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


def _uvarint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def _compact_string(data: bytes, position: int) -> tuple[str | None, int]:
    length, position = _uvarint(data, position)
    if length == 0:
        return None, position
    end = position + length - 1
    return data[position:end].decode(), end


def _skip_tags(data: bytes, position: int) -> int:
    count, position = _uvarint(data, position)
    for _ in range(count):
        _, position = _uvarint(data, position)
        size, position = _uvarint(data, position)
        position += size
    return position


def handwritten_produce_v9(frame: bytes) -> dict[str, Any]:
    """The baseline: Produce v9 parsed with plain struct calls, records left as a memoryview."""
    view = memoryview(frame)
    api_key, version, correlation_id, client_length = _HEADER.unpack_from(frame, 0)
    position = _HEADER.size
    client_id = frame[position : position + client_length].decode() if client_length >= 0 else None
    position = _skip_tags(frame, position + max(client_length, 0))
    transactional_id, position = _compact_string(frame, position)
    acks = _INT16.unpack_from(frame, position)[0]
    timeout = _INT32.unpack_from(frame, position + 2)[0]
    position += 6
    topic_count, position = _uvarint(frame, position)
    topics = []
    for _ in range(topic_count - 1):
        name, position = _compact_string(frame, position)
        partition_count, position = _uvarint(frame, position)
        partitions = []
        for _ in range(partition_count - 1):
            index = _INT32.unpack_from(frame, position)[0]
            length, position = _uvarint(frame, position + 4)
            records = view[position : position + length - 1]
            position = _skip_tags(frame, position + length - 1)
            partitions.append((index, records))
        position = _skip_tags(frame, position)
        topics.append((name, partitions))
    _skip_tags(frame, position)
    return {
        "header": (api_key, version, correlation_id, client_id),
        "transactional_id": transactional_id,
        "acks": acks,
        "timeout": timeout,
        "topics": topics,
    }


def produce_frame() -> bytes:
    records = [Record(key=b"k%d" % i, value=bytes(1000)) for i in range(16)]
    batch = build_batch(records, compression=Compression.NONE)
    topic = PRODUCE.Request.TopicProduceData
    body = PRODUCE.Request(
        acks=-1,
        timeout_ms=30000,
        topic_data=[topic(name="bench", partition_data=[topic.PartitionProduceData(index=0, records=batch)])],
    )
    return wire.encode_request(PRODUCE, 9, 1, "bench-client", body)[4:]


def fetch_response() -> Any:
    records = build_batch([Record(key=None, value=bytes(1024)) for _ in range(63)])
    topic = FETCH.Response.FetchableTopicResponse
    return FETCH.Response(
        responses=[
            topic(
                topic="bench",
                partitions=[
                    topic.PartitionData(partition_index=p, high_watermark=1000, records=records) for p in range(10)
                ],
            )
        ]
    )


def metadata_response() -> Any:
    response = METADATA.Response
    topic = response.MetadataResponseTopic
    return response(
        brokers=[response.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=9092)],
        cluster_id="bench",
        topics=[
            topic(
                name=f"topic-{t}",
                topic_id=uuid.uuid4(),
                partitions=[
                    topic.MetadataResponsePartition(partition_index=p, leader_id=0, replica_nodes=[0], isr_nodes=[0])
                    for p in range(12)
                ],
            )
            for t in range(100)
        ],
    )


def per_call_us(function: Callable[[], object], minimum_seconds: float = 0.5) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(number, int(number * minimum_seconds / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def main() -> None:
    frame = produce_frame()
    decoded = wire.decode_request(frame)
    assert isinstance(decoded, wire.Request)
    assert handwritten_produce_v9(frame)["topics"][0][1][0][1] == decoded.body.topic_data[0].partition_data[0].records
    fetch = fetch_response()
    fetch_frame = wire.encode_response(FETCH, 12, 1, fetch)[4:]
    metadata = metadata_response()
    metadata_frame = wire.encode_response(METADATA, 12, 1, metadata)[4:]

    rows = [
        ("Produce v9 request decode (construct)", per_call_us(lambda: wire.decode_request(frame))),
        ("Produce v9 request decode (hand-written struct)", per_call_us(lambda: handwritten_produce_v9(frame))),
        ("Produce v9 request encode", per_call_us(lambda: wire.encode_request(PRODUCE, 9, 1, "c", decoded.body))),
        ("Fetch v12 response encode (10 x 64 KiB)", per_call_us(lambda: wire.encode_response(FETCH, 12, 1, fetch))),
        (
            "Fetch v12 response encode, in parts as the broker writes it",
            per_call_us(lambda: wire.encode_response_parts(FETCH, 12, 1, fetch)),
        ),
        ("Fetch v12 response decode", per_call_us(lambda: wire.decode_response(FETCH, 12, fetch_frame))),
        (
            "Metadata v12 response encode (100 x 12)",
            per_call_us(lambda: wire.encode_response(METADATA, 12, 1, metadata)),
        ),
        ("Metadata v12 response decode", per_call_us(lambda: wire.decode_response(METADATA, 12, metadata_frame))),
    ]
    width = max(len(name) for name, _ in rows)
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:10.2f} us")
    print(f"{'Produce decode, construct / hand-written':<{width}}  {rows[0][1] / rows[1][1]:10.2f} x")


if __name__ == "__main__":
    main()
