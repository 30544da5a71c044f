"""A 64-partition topic: one message to each partition, each read back from its own partition."""

from __future__ import annotations

from compat.clients import CLIENT_IO, Message, create_topic, same_content

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")
PARTITIONS = 64


def run(client: str, bootstrap: str, topic: str) -> None:
    io = CLIENT_IO[client]
    create_topic(bootstrap, topic, PARTITIONS)
    messages = [Message(f"p{p}".encode(), f"to partition {p}".encode(), partition=p) for p in range(PARTITIONS)]
    io.produce(bootstrap, topic, messages, "none", idempotent=False)
    same_content(messages, io.read(bootstrap, topic, range(PARTITIONS), len(messages)))
