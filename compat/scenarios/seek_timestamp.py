"""Seek by timestamp (ListOffsets with a timestamp): the first offset whose timestamp is >= the one asked for."""

from __future__ import annotations

import asyncio
import json
import time

from compat.clients import CLIENT_IO, Message, check, kafkajs, run_tool

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")
STEP_MS = 1000


def offset_for_time(client: str, bootstrap: str, topic: str, timestamp_ms: int) -> int:
    if client == "kafka-python":
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        try:
            found = consumer.offsets_for_times({TopicPartition(topic, 0): timestamp_ms})[TopicPartition(topic, 0)]
            return -1 if found is None else int(found.offset)
        finally:
            consumer.close()
    if client == "confluent-kafka":
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused"})
        try:
            return int(consumer.offsets_for_times([TopicPartition(topic, 0, timestamp_ms)], timeout=30)[0].offset)
        finally:
            consumer.close()
    if client == "aiokafka":
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def run() -> int:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
            await consumer.start()
            try:
                found = (await consumer.offsets_for_times({TopicPartition(topic, 0): timestamp_ms}))[
                    TopicPartition(topic, 0)
                ]
                return -1 if found is None else int(found.offset)
            finally:
                await consumer.stop()

        return asyncio.run(run())
    if client == "kcat":
        args = ["kcat", "-C", "-J", "-b", bootstrap, "-t", topic, "-p", "0", "-o", f"s@{timestamp_ms}"]
        out = run_tool([*args, "-c", "1", "-e"])
        lines = out.splitlines()
        return int(json.loads(lines[0])["offset"]) if lines else -1
    answer: int = kafkajs("offset_for_time", bootstrap, topic, {"timestamp": timestamp_ms})
    return answer


def run(client: str, bootstrap: str, topic: str) -> None:
    base = int(time.time() * 1000) - 60 * STEP_MS
    messages = [Message(None, f"m{i}".encode(), timestamp_ms=base + i * STEP_MS) for i in range(8)]
    CLIENT_IO["kafka-python"].produce(bootstrap, topic, messages, "none", idempotent=False)
    for asked, expected in ((base + 2 * STEP_MS + 500, 3), (base, 0), (base + 7 * STEP_MS, 7)):
        found = offset_for_time(client, bootstrap, topic, asked)
        check(found == expected, f"timestamp {asked - base} ms after the first: offset {found}, expected {expected}")
