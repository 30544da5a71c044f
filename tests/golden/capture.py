"""A tiny capture server: answers just enough for stock clients to produce and fetch, records their requests.

`python -m tests.golden.capture` runs kafka-python, confluent-kafka and kcat against it and
rewrites the fixtures in tests/golden/fixtures (one file per client, API and version).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from streamhouse.broker.server import unsupported_api_versions_response
from streamhouse.protocol import wire
from streamhouse.protocol.registry import APIS

FIXTURES = Path(__file__).parent / "fixtures"
TOPIC = "golden"
CAPTURED_APIS = {18: "ApiVersions", 3: "Metadata", 0: "Produce", 1: "Fetch", 2: "ListOffsets", 22: "InitProducerId"}


class CaptureServer:
    """Serves one topic of one partition from an empty log; keeps every request frame it gets."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CaptureServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._server is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                self.frames.append(frame)
                request = wire.decode_request(frame)
                if isinstance(request, wire.UnsupportedRequest):
                    if request.api_key != wire.API_VERSIONS_KEY:
                        return
                    # Clients newer than us start with a higher ApiVersions and retry at what we answer.
                    writer.write(unsupported_api_versions_response(request.correlation_id))
                    await writer.drain()
                    continue
                body = _ANSWERS[request.api.key](request, self.port)
                writer.write(wire.encode_response(request.api, request.version, request.correlation_id, body))
                await writer.drain()
        writer.close()


def _api_versions(request: wire.Request, port: int) -> Any:
    response = request.api.Response
    return response(
        api_keys=[
            response.ApiVersion(api_key=key, min_version=APIS[key].min_version, max_version=APIS[key].max_version)
            for key in sorted(CAPTURED_APIS)
        ]
    )


def _metadata(request: wire.Request, port: int) -> Any:
    response = request.api.Response
    topic = response.MetadataResponseTopic
    return response(
        brokers=[response.MetadataResponseBroker(node_id=1, host="127.0.0.1", port=port)],
        cluster_id="capture",
        controller_id=1,
        topics=[
            topic(
                name=TOPIC,
                partitions=[
                    topic.MetadataResponsePartition(partition_index=0, leader_id=1, replica_nodes=[1], isr_nodes=[1])
                ],
            )
        ],
    )


def _produce(request: wire.Request, port: int) -> Any:
    response = request.api.Response
    topic = response.TopicProduceResponse
    return response(
        responses=[
            topic(
                name=data.name,
                partition_responses=[topic.PartitionProduceResponse(index=p.index) for p in data.partition_data],
            )
            for data in request.body.topic_data
        ]
    )


def _list_offsets(request: wire.Request, port: int) -> Any:
    response = request.api.Response
    topic = response.ListOffsetsTopicResponse
    return response(
        topics=[
            topic(
                name=wanted.name,
                partitions=[
                    topic.ListOffsetsPartitionResponse(partition_index=p.partition_index, offset=0, timestamp=-1)
                    for p in wanted.partitions
                ],
            )
            for wanted in request.body.topics
        ]
    )


def _fetch(request: wire.Request, port: int) -> Any:
    response = request.api.Response
    topic = response.FetchableTopicResponse
    return response(
        responses=[
            topic(
                topic=wanted.topic,
                partitions=[topic.PartitionData(partition_index=p.partition, records=b"") for p in wanted.partitions],
            )
            for wanted in request.body.topics
        ]
    )


def _init_producer_id(request: wire.Request, port: int) -> Any:
    return request.api.Response(producer_id=1000, producer_epoch=0)


_ANSWERS: dict[int, Callable[[wire.Request, int], Any]] = {
    18: _api_versions,
    3: _metadata,
    0: _produce,
    2: _list_offsets,
    1: _fetch,
    22: _init_producer_id,
}


# -- the clients --------------------------------------------------------------------

PRODUCED = [(b"key-1", b"value-1"), (None, b"value-2"), (b"key-3", None)]


def run_kafka_python(bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for key, value in PRODUCED:
        producer.send(TOPIC, key=key, value=value, partition=0, headers=[("h", b"v")])
    producer.flush(10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=1500)
    consumer.assign([TopicPartition(TOPIC, 0)])
    consumer.poll(timeout_ms=1500)
    consumer.close()


def run_confluent(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for key, value in PRODUCED:
        producer.produce(TOPIC, key=key, value=value, partition=0, headers=[("h", b"v")])
    producer.flush(10)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "golden", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    consumer.consume(1, 1.5)
    consumer.close()


def run_kcat(bootstrap: str) -> None:
    lines = "key-1\tvalue-1\nvalue-2\n"
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-K", "\t", "-H", "h=v"],
        input=lines, text=True, check=True, timeout=30,
    )  # fmt: skip
    subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-o", "0", "-c", "1", "-q"],
        capture_output=True, timeout=3, check=False,
    )  # fmt: skip


CLIENTS: dict[str, Callable[[str], None]] = {
    "kafka-python": run_kafka_python,
    "confluent-kafka": run_confluent,
    "kcat": run_kcat,
}


def capture(client: str) -> dict[str, bytes]:
    """Run one client against a capture server: the first frame of each (API, version) it sent."""
    with CaptureServer() as server:
        with contextlib.suppress(subprocess.TimeoutExpired):
            CLIENTS[client](f"127.0.0.1:{server.port}")
        frames = list(server.frames)
    return dict(_first_per_api(client, frames))


def _first_per_api(client: str, frames: list[bytes]) -> Iterator[tuple[str, bytes]]:
    seen: set[str] = set()
    for frame in frames:
        api_key, version = struct.unpack_from(">hh", frame)
        if api_key not in CAPTURED_APIS:
            continue
        name = f"{client}-{CAPTURED_APIS[api_key]}-v{version}.bin"
        if name not in seen:
            seen.add(name)
            yield name, frame


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for client in CLIENTS:
        for name, frame in capture(client).items():
            (FIXTURES / name).write_bytes(frame)
            print(f"captured {name} ({len(frame)} bytes)")


if __name__ == "__main__":
    main()
