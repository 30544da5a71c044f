"""Produce and read back with every compression codec the client supports, on two partitions."""

from __future__ import annotations

from compat.clients import CLIENT_IO, Message, same_content

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# kafkajs ships gzip only; the other codecs need third-party plugins that are not stock kafkajs.
CLIENT_CODECS = {"kafkajs": ("none", "gzip")}


def run(client: str, bootstrap: str, topic: str) -> None:
    io = CLIENT_IO[client]
    for codec in CLIENT_CODECS.get(client, CODECS):
        messages = [
            Message(f"{codec}-{i}".encode(), (f"{codec} record {i} " * 40).encode(), partition=i % 2) for i in range(20)
        ]
        codec_topic = f"{topic}-{codec}"
        io.produce(bootstrap, codec_topic, messages, codec, idempotent=False)
        same_content(messages, io.read(bootstrap, codec_topic, [0, 1], len(messages)))
