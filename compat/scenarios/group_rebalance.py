"""Consumer group split and rebalance: one member owns all 4 partitions, a second joins, they split 2 + 2."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from compat.clients import CONSUMER_PROTOCOL, DEADLINE_S, check, confluent_group_config, create_topic, kafkajs

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kafkajs", CONSUMER_PROTOCOL)
PARTITIONS = 4


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.2)


def check_split(alone: set[int], first: set[int], second: set[int]) -> None:
    check(alone == set(range(PARTITIONS)), f"a lone member got {sorted(alone)}")
    check(len(first) == len(second) == PARTITIONS // 2, f"split {sorted(first)} / {sorted(second)}")
    check(first | second == set(range(PARTITIONS)), f"split {sorted(first)} / {sorted(second)} misses partitions")


def kafka_python_split(bootstrap: str, topic: str, group: str) -> None:
    from kafka import KafkaConsumer

    stop = threading.Event()
    members: list[Any] = []

    def member() -> None:
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, heartbeat_interval_ms=500)
        members.append(consumer)
        while not stop.is_set():
            consumer.poll(timeout_ms=200)
        consumer.close()

    def owned(index: int) -> set[int]:
        return {tp.partition for tp in members[index].assignment()} if len(members) > index else set()

    threads = [threading.Thread(target=member, daemon=True)]
    threads[0].start()
    try:
        wait_for(lambda: len(owned(0)) == PARTITIONS, "the first member's assignment")
        alone = owned(0)
        threads.append(threading.Thread(target=member, daemon=True))
        threads[1].start()
        wait_for(lambda: len(owned(0)) == len(owned(1)) == PARTITIONS // 2, "the split")
        check_split(alone, owned(0), owned(1))
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE_S)


def confluent_split(bootstrap: str, topic: str, group: str, client: str = "confluent-kafka") -> None:
    from confluent_kafka import Consumer

    def join() -> Any:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group} | confluent_group_config(client))
        consumer.subscribe([topic])
        return consumer

    def owned(consumer: Any) -> set[int]:
        return {tp.partition for tp in consumer.assignment()}

    members = [join()]
    try:

        def sizes_after_poll() -> tuple[int, ...]:
            # librdkafka serves rebalance callbacks from poll(): every member keeps polling.
            for member in members:
                member.poll(0.1)
            return tuple(len(owned(member)) for member in members)

        wait_for(lambda: sizes_after_poll() == (PARTITIONS,), "the first member's assignment")
        alone = owned(members[0])
        members.append(join())
        wait_for(lambda: sizes_after_poll() == (PARTITIONS // 2, PARTITIONS // 2), "the split")
        check_split(alone, owned(members[0]), owned(members[1]))
    finally:
        for member in members:
            member.close()


def aiokafka_split(bootstrap: str, topic: str, group: str) -> None:
    from aiokafka import AIOKafkaConsumer

    async def owned_eventually(consumers: list[Any], sizes: tuple[int, ...]) -> list[set[int]]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for consumer in consumers:
                await consumer.getmany(timeout_ms=100)
            owned = [{tp.partition for tp in consumer.assignment()} for consumer in consumers]
            if tuple(len(o) for o in owned) == sizes:
                return owned
            check(time.monotonic() < deadline, f"timed out with assignments {owned}")

    async def run() -> None:
        members = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group) for _ in range(2)]
        await members[0].start()
        try:
            [alone] = await owned_eventually(members[:1], (PARTITIONS,))
            await members[1].start()
            first, second = await owned_eventually(members, (PARTITIONS // 2, PARTITIONS // 2))
            check_split(alone, first, second)
        finally:
            for member in members:
                await member.stop()

    asyncio.run(run())


def run(client: str, bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, PARTITIONS)
    group = f"{topic}-group"
    splits = {"kafka-python": kafka_python_split, "confluent-kafka": confluent_split, "aiokafka": aiokafka_split}
    if client in splits:
        splits[client](bootstrap, topic, group)
        return
    if client == CONSUMER_PROTOCOL:
        confluent_split(bootstrap, topic, group, client)
        return
    answer = kafkajs("group_split", bootstrap, topic, {"group": group, "partitions": PARTITIONS})
    check_split(set(answer["alone"]), set(answer["first"]), set(answer["second"]))
