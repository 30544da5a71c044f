"""Keys, headers (several, repeated names, empty values), null keys and null values (tombstones) survive."""

from __future__ import annotations

from compat.clients import CLIENT_IO, Message, same_content

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")

MESSAGES = [
    Message(b"user-1", b"created", headers=(("trace", b"abc"), ("source", b"compat"))),
    Message(None, b"no key here"),
    Message(b"user-1", None),
    Message(b"user-2", b"repeated header names", headers=(("tag", b"one"), ("tag", b"two"))),
    Message(b"user-3", b"empty header value", headers=(("empty", b""),)),
]


def run(client: str, bootstrap: str, topic: str) -> None:
    io = CLIENT_IO[client]
    io.produce(bootstrap, topic, MESSAGES, "none", idempotent=False)
    same_content(MESSAGES, io.read(bootstrap, topic, [0], len(MESSAGES)))
