"""A record just under the broker's default 1 MiB batch limit goes through, followed by a small one."""

from __future__ import annotations

from compat.clients import CLIENT_IO, Message, same_content

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")
LARGE_VALUE_BYTES = 1_000_000


def run(client: str, bootstrap: str, topic: str) -> None:
    io = CLIENT_IO[client]
    large = (b"0123456789abcdef" * (LARGE_VALUE_BYTES // 16 + 1))[:LARGE_VALUE_BYTES]
    messages = [Message(b"large", large), Message(b"small", b"after the large one")]
    io.produce(bootstrap, topic, messages, "none", idempotent=False)
    same_content(messages, io.read(bootstrap, topic, [0], len(messages)))
