"""Produce and consume with each stock client, in one common shape, for the round-trip tests."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from dataclasses import dataclass

from tests.e2e.dataset import PARTITIONS, Sent

TIMEOUT = 60.0


@dataclass(frozen=True)
class Received:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def as_sent(self) -> Sent:
        return Sent(self.partition, self.key, self.value, self.headers)


# -- confluent-kafka (librdkafka) ----------------------------------------------


def confluent_produce(bootstrap: str, topic: str, items: list[Sent], codec: str, idempotent: bool) -> None:
    from confluent_kafka import Producer

    failures: list[object] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            failures.append(error)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "enable.idempotence": idempotent,
            "acks": "all",
            "linger.ms": 5,
        }
    )
    for item in items:
        producer.produce(
            topic,
            value=item.value,
            key=item.key,
            partition=item.partition,
            headers=list(item.headers),
            on_delivery=delivered,
        )
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0, "messages left undelivered"
    assert not failures, failures[:3]


def confluent_consume(bootstrap: str, topic: str, count: int) -> list[Received]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",  # required by the client; assign() uses no group
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(PARTITIONS)])
    received: list[Received] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(received) < count and time.monotonic() < deadline:
            for message in consumer.consume(1000, 1.0):
                assert message.error() is None, message.error()
                headers = tuple((name, value) for name, value in (message.headers() or []))
                received.append(
                    Received(message.partition(), message.offset(), message.key(), message.value(), headers)
                )
    finally:
        consumer.close()
    return received


# -- kafka-python ----------------------------------------------------------------


def kafka_python_produce(bootstrap: str, topic: str, items: list[Sent], codec: str, idempotent: bool) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=None if codec == "none" else codec,
        enable_idempotence=idempotent,
        acks="all",
        linger_ms=5,
    )
    futures = [
        producer.send(topic, value=item.value, key=item.key, partition=item.partition, headers=list(item.headers))
        for item in items
    ]
    producer.flush(TIMEOUT)
    for future in futures:
        future.get(TIMEOUT)
    producer.close()


def kafka_python_consume(bootstrap: str, topic: str, count: int) -> list[Received]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    partitions = [TopicPartition(topic, partition) for partition in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received: list[Received] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(received) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    headers = tuple((name, value) for name, value in record.headers)
                    received.append(Received(record.partition, record.offset, record.key, record.value, headers))
    finally:
        consumer.close()
    return received


# -- aiokafka --------------------------------------------------------------------


def aiokafka_produce(bootstrap: str, topic: str, items: list[Sent], codec: str, idempotent: bool) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=None if codec == "none" else codec,
            enable_idempotence=idempotent,
            acks="all",
            linger_ms=5,
        )
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic, value=item.value, key=item.key, partition=item.partition, headers=list(item.headers)
                )
                for item in items
            ]
            await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
        finally:
            await producer.stop()

    asyncio.run(run())


def aiokafka_consume(bootstrap: str, topic: str, count: int) -> list[Received]:
    async def run() -> list[Received]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        partitions = [TopicPartition(topic, partition) for partition in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        received: list[Received] = []
        deadline = time.monotonic() + TIMEOUT
        try:
            while len(received) < count and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        headers = tuple((name, value) for name, value in record.headers)
                        received.append(Received(record.partition, record.offset, record.key, record.value, headers))
        finally:
            await consumer.stop()
        return received

    return asyncio.run(run())


# -- kcat (librdkafka's command line) ---------------------------------------------
# kcat reads one record per line, so kcat data is printable; -Z turns an empty value into
# a null one, and headers (-H) apply to every record of one run: items are grouped by them.

KEY_DELIMITER = "\t"


def kcat_produce(bootstrap: str, topic: str, items: list[Sent], codec: str, idempotent: bool) -> None:
    # One kcat run per partition and run of equal headers, keeping each partition's order.
    ordered = sorted(items, key=lambda item: item.partition)  # stable: order within a partition stays
    for (partition, headers), run in itertools.groupby(ordered, key=lambda item: (item.partition, item.headers)):
        # A null key has no key delimiter; kcat then sends the whole line as the value.
        lines = [
            (f"{item.key.decode()}{KEY_DELIMITER}" if item.key is not None else "") + (item.value or b"").decode()
            for item in run
        ]
        args = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(partition), "-K", KEY_DELIMITER, "-Z"]
        args += ["-z", codec, "-X", f"enable.idempotence={str(idempotent).lower()}", "-X", "acks=all"]
        for name, value in headers:
            args += ["-H", f"{name}={value.decode()}"]
        subprocess.run(args, input="\n".join(lines) + "\n", text=True, check=True, timeout=TIMEOUT)


def kcat_consume(bootstrap: str, topic: str, count: int) -> list[Received]:
    received: list[Received] = []
    for partition in range(PARTITIONS):
        # Sizes (%K, %S) tell null (-1) from empty; fields are separated by \x1f.
        fmt = "%p\x1f%o\x1f%K\x1f%k\x1f%S\x1f%s\x1f%h\x1e"
        output = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-p", str(partition), "-o", "beginning", "-e", "-q",
             "-f", fmt],
            capture_output=True, check=True, timeout=TIMEOUT,
        ).stdout  # fmt: skip
        for line in output.split(b"\x1e"):
            if not line.strip(b"\n"):
                continue
            part, offset, key_size, key, value_size, value, headers = line.lstrip(b"\n").split(b"\x1f")
            received.append(
                Received(
                    int(part),
                    int(offset),
                    None if int(key_size) < 0 else key,
                    None if int(value_size) < 0 else value,
                    _kcat_headers(headers),
                )
            )
    return received


def _kcat_headers(text: bytes) -> tuple[tuple[str, bytes], ...]:
    if not text:
        return ()
    pairs = []
    for pair in text.split(b","):
        name, _, value = pair.partition(b"=")
        pairs.append((name.decode(), value))
    return tuple(pairs)


PRODUCERS = {
    "confluent-kafka": confluent_produce,
    "kafka-python": kafka_python_produce,
    "aiokafka": aiokafka_produce,
    "kcat": kcat_produce,
}
CONSUMERS = {
    "confluent-kafka": confluent_consume,
    "kafka-python": kafka_python_consume,
    "aiokafka": aiokafka_consume,
    "kcat": kcat_consume,
}
