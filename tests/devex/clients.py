"""confluent-kafka helpers the developer-experience tests share."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def read_values(bootstrap: str, topic: str, count: int, group: str, polls: int = 30) -> list[bytes]:
    """Up to `count` record values of the topic from the start, read by a new member of `group`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    for _ in range(polls):
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            values.append(message.value())
        if len(values) >= count:
            break
    consumer.close()
    return values
