"""An idempotent producer (enable.idempotence) writes every message exactly once and in order."""

from __future__ import annotations

from compat.clients import CLIENT_IO, Message, same_content

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")


def run(client: str, bootstrap: str, topic: str) -> None:
    io = CLIENT_IO[client]
    # kcat starts one process (one producer id) per message: fewer messages keep its cell short.
    count = 12 if client == "kcat" else 90
    messages = [Message(f"k{i}".encode(), f"idempotent {i}".encode(), partition=i % 3) for i in range(count)]
    io.produce(bootstrap, topic, messages, "lz4", idempotent=True)
    same_content(messages, io.read(bootstrap, topic, [0, 1, 2], len(messages)))
