"""Commit and resume: a group member reads part of a partition and commits; the next member resumes there."""

from __future__ import annotations

import asyncio

from compat.clients import (
    CLIENT_IO,
    CONSUMER_PROTOCOL,
    DEADLINE_S,
    Message,
    check,
    confluent_group_config,
    kafkajs,
    run_tool,
)

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs", CONSUMER_PROTOCOL)
TOTAL = 10
FIRST_READ = 4


def read_and_commit(client: str, bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Joins `group` on `topic`, reads `count` messages, commits what was read, leaves; returns the values."""
    if client == "kafka-python":
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=count,
        )
        values: list[bytes] = []
        try:
            while len(values) < count:
                for records in consumer.poll(
                    timeout_ms=int(DEADLINE_S * 1000), max_records=count - len(values)
                ).values():
                    values += [r.value for r in records]
                check(bool(values), "no message within the deadline")
            consumer.commit()
        finally:
            consumer.close()
        return values
    if client in ("confluent-kafka", CONSUMER_PROTOCOL):
        from confluent_kafka import Consumer

        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
             "auto.offset.reset": "earliest"} | confluent_group_config(client)
        )  # fmt: skip
        consumer.subscribe([topic])
        values = []
        try:
            while len(values) < count:
                batch = consumer.consume(count - len(values), DEADLINE_S)
                check(bool(batch), "no message within the deadline")
                for record in batch:
                    check(record.error() is None, f"consume error: {record.error()}")
                    values.append(record.value() or b"")
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
        return values
    if client == "aiokafka":
        from aiokafka import AIOKafkaConsumer

        async def run() -> list[bytes]:
            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                auto_offset_reset="earliest",
            )  # fmt: skip
            await consumer.start()
            got: list[bytes] = []
            try:
                while len(got) < count:
                    batches = await consumer.getmany(timeout_ms=int(DEADLINE_S * 1000), max_records=count - len(got))
                    check(bool(batches), "no message within the deadline")
                    got += [r.value for records in batches.values() for r in records]
                await consumer.commit()
            finally:
                await consumer.stop()
            return got

        return asyncio.run(run())
    if client == "kcat":
        # The balanced consumer commits the offsets of what it printed when it leaves the group.
        args = ["kcat", "-C", "-b", bootstrap, "-G", group, "-c", str(count), "-f", "%s\n"]
        out = run_tool([*args, "-X", "auto.offset.reset=earliest", topic])
        return [line.encode() for line in out.splitlines()]
    answer: list[str] = kafkajs("read_and_commit", bootstrap, topic, {"group": group, "count": count})
    return [value.encode() for value in answer]


def run(client: str, bootstrap: str, topic: str) -> None:
    messages = [Message(None, f"v{i}".encode()) for i in range(TOTAL)]
    CLIENT_IO["kafka-python"].produce(bootstrap, topic, messages, "none", idempotent=False)
    group = f"{topic}-group"
    first = read_and_commit(client, bootstrap, topic, group, FIRST_READ)
    check(first == [m.value for m in messages[:FIRST_READ]], f"first member read {first}")
    rest = read_and_commit(client, bootstrap, topic, group, TOTAL - FIRST_READ)
    check(rest == [m.value for m in messages[FIRST_READ:]], f"second member resumed with {rest}")
