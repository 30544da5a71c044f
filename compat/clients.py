"""Produce and read back with each stock client through one small interface, so one scenario covers them all."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

DEADLINE_S = 45.0
# The matrix's consumer-protocol column: confluent-kafka's consumers with KIP-848's group.protocol=consumer.
CONSUMER_PROTOCOL = "confluent-848"


def confluent_group_config(client: str) -> dict[str, str]:
    """The group protocol settings of a confluent-kafka consumer in the column `client`."""
    return {"group.protocol": "consumer"} if client == CONSUMER_PROTOCOL else {}


KAFKAJS_DIR = Path(__file__).parent / "kafkajs"


class ScenarioError(AssertionError):
    """A client saw something a Kafka broker would not have shown it."""


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise ScenarioError(reason)


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes | None
    partition: int = 0
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None

    def content(self) -> Message:
        """The message without its timestamp, which a producer may leave to the client's clock."""
        return replace(self, timestamp_ms=None)


class ClientIO(Protocol):
    name: str

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        """Sends every message to its partition and waits for every acknowledgement."""

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        """Reads `partitions` from the beginning, without a group, until `count` messages came (or time runs out)."""


def same_content(sent: Sequence[Message], got: Sequence[Message]) -> None:
    """Per partition, the messages read are the ones sent, in order."""
    for partition in sorted({message.partition for message in sent}):
        wanted = [m.content() for m in sent if m.partition == partition]
        seen = [m.content() for m in got if m.partition == partition]
        check(len(seen) == len(wanted), f"partition {partition}: read {len(seen)} of {len(wanted)} messages")
        for index, (want, have) in enumerate(zip(wanted, seen, strict=True)):
            check(want == have, f"partition {partition} message {index}: sent {want!r}, read {have!r}")


def read_until(fetch: Callable[[], list[Message]], count: int) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(received) < count and time.monotonic() < deadline:
        received.extend(fetch())
    return received


def send_arguments(m: Message) -> dict[str, Any]:
    """send() keywords of kafka-python and of aiokafka, which share them."""
    return {
        "key": m.key,
        "value": m.value,
        "partition": m.partition,
        "headers": list(m.headers),
        "timestamp_ms": m.timestamp_ms,
    }


def read_then_close(fetch: Callable[[], list[Message]], count: int, close: Callable[[], None]) -> list[Message]:
    try:
        return read_until(fetch, count)
    finally:
        close()


class KafkaPython:
    name = "kafka-python"

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=None if codec == "none" else codec,
            enable_idempotence=idempotent,
            acks="all",
            max_request_size=2 * 1024 * 1024,
        )
        try:
            futures = [producer.send(topic, **send_arguments(m)) for m in messages]
            producer.flush(DEADLINE_S)
            for future in futures:
                future.get(DEADLINE_S)
        finally:
            producer.close()

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)

        def fetch() -> list[Message]:
            return [
                Message(r.key, r.value, r.partition, tuple(r.headers), r.timestamp)
                for records in consumer.poll(timeout_ms=500).values()
                for r in records
            ]

        return read_then_close(fetch, count, consumer.close)


class Confluent:
    name = "confluent-kafka"

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        from confluent_kafka import Producer

        failures: list[Any] = []
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "compression.type": codec,
                "enable.idempotence": idempotent,
                "acks": "all",
                "message.max.bytes": 2 * 1024 * 1024,
            }
        )
        for m in messages:
            producer.produce(
                topic,
                key=m.key,
                value=m.value,
                partition=m.partition,
                headers=list(m.headers),
                timestamp=m.timestamp_ms or 0,
                on_delivery=lambda error, _message: failures.append(error) if error else None,
            )
            producer.poll(0)
        check(producer.flush(DEADLINE_S) == 0, "messages left undelivered")
        check(not failures, f"delivery errors: {failures[:3]}")

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

        def fetch() -> list[Message]:
            batch = []
            for record in consumer.consume(1000, 0.5):
                check(record.error() is None, f"consume error: {record.error()}")
                raw_headers: Any = record.headers() or ()
                headers = tuple((name, value) for name, value in raw_headers)
                partition = int(record.partition() or 0)
                batch.append(Message(record.key(), record.value(), partition, headers, record.timestamp()[1]))
            return batch

        return read_then_close(fetch, count, consumer.close)


class AioKafka:
    name = "aiokafka"

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        from aiokafka import AIOKafkaProducer

        async def run() -> None:
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap,
                compression_type=None if codec == "none" else codec,
                enable_idempotence=idempotent,
                acks="all",
                max_request_size=2 * 1024 * 1024,
            )
            await producer.start()
            try:
                futures = [await producer.send(topic, **send_arguments(m)) for m in messages]
                await asyncio.gather(*futures)
            finally:
                await producer.stop()

        asyncio.run(run())

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def run() -> list[Message]:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
            await consumer.start()
            try:
                assigned = [TopicPartition(topic, p) for p in partitions]
                consumer.assign(assigned)
                await consumer.seek_to_beginning(*assigned)
                received: list[Message] = []
                deadline = time.monotonic() + DEADLINE_S
                while len(received) < count and time.monotonic() < deadline:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        received.extend(
                            Message(r.key, r.value, r.partition, tuple(r.headers), r.timestamp) for r in records
                        )
                return received
            finally:
                await consumer.stop()

        return asyncio.run(run())


def run_tool(args: Sequence[str], stdin: str = "", timeout: float = DEADLINE_S + 15) -> str:
    """Runs a client program; its stderr becomes the failure reason."""
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    check(done.returncode == 0, f"{Path(args[0]).name} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return done.stdout


def message_from_json(item: dict[str, Any]) -> Message:
    """kcat -J and our kafkajs script describe a message with the same field names."""

    def raw(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    headers = item.get("headers") or []
    pairs = tuple((str(headers[i]), raw(headers[i + 1])) for i in range(0, len(headers), 2))
    return Message(raw(item.get("key")), raw(item.get("payload")), item["partition"], pairs, item.get("ts"))


class Kcat:
    """kcat (librdkafka 2.0): text payloads only, one process per message when keys or headers vary."""

    name = "kcat"

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        for m in messages:
            args = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(m.partition), "-z", codec, "-Z"]
            args += ["-X", f"enable.idempotence={str(idempotent).lower()}", "-X", "message.max.bytes=2097152"]
            for name, value in m.headers:
                args += ["-H", f"{name}={(value or b'').decode()}"]
            if m.key is not None:
                args += ["-K", "\t"]
            line = ("" if m.key is None else m.key.decode() + "\t") + (m.value or b"").decode()
            run_tool([*args, "-D", "\x1f"], stdin=line)

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        # One process reads every partition of the topic to its end; keep those asked for.
        args = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J"]
        out = run_tool([*args, "-X", "fetch.message.max.bytes=2097152"])
        received = [message_from_json(json.loads(line)) for line in out.splitlines() if line.strip()]
        return [m for m in received if m.partition in partitions]


def kafkajs(command: str, bootstrap: str, topic: str, request: dict[str, Any]) -> Any:
    """Runs one command of compat/kafkajs/client.js with a JSON request; returns its JSON answer."""
    out = run_tool(["node", str(KAFKAJS_DIR / "client.js"), command, bootstrap, topic], stdin=json.dumps(request))
    return json.loads(out)


def message_to_json(m: Message) -> dict[str, Any]:
    return {
        "key": None if m.key is None else m.key.decode(),
        "payload": None if m.value is None else m.value.decode(),
        "partition": m.partition,
        "headers": [part for name, value in m.headers for part in (name, None if value is None else value.decode())],
        "ts": m.timestamp_ms,
    }


class KafkaJS:
    name = "kafkajs"

    def produce(self, bootstrap: str, topic: str, messages: Sequence[Message], codec: str, idempotent: bool) -> None:
        request = {"codec": codec, "idempotent": idempotent, "messages": [message_to_json(m) for m in messages]}
        kafkajs("produce", bootstrap, topic, request)

    def read(self, bootstrap: str, topic: str, partitions: Sequence[int], count: int) -> list[Message]:
        answer = kafkajs("read", bootstrap, topic, {"partitions": list(partitions), "count": count})
        return [message_from_json(item) for item in answer]


CLIENT_IO: dict[str, ClientIO] = {io.name: io for io in (KafkaPython(), Confluent(), AioKafka(), Kcat(), KafkaJS())}


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Set-up step for scenarios whose client under test cannot create topics itself (kcat)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
