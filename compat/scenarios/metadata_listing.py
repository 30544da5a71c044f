"""Metadata: the client lists topics and sees each one's partition count."""

from __future__ import annotations

import asyncio
import json

from compat.clients import check, create_topic, kafkajs, run_tool

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kcat", "kafkajs")
PARTITION_COUNTS = {"-six": 6, "-one": 1}


def listed_partitions(client: str, bootstrap: str, topics: list[str]) -> dict[str, int]:
    if client == "kafka-python":
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        try:
            listed = consumer.topics()
            return {t: len(consumer.partitions_for_topic(t) or ()) for t in topics if t in listed}
        finally:
            consumer.close()
    if client == "confluent-kafka":
        from confluent_kafka.admin import AdminClient

        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
        return {t: len(metadata.topics[t].partitions) for t in topics if t in metadata.topics}
    if client == "aiokafka":
        from aiokafka import AIOKafkaClient

        async def run() -> dict[str, int]:
            client = AIOKafkaClient(bootstrap_servers=bootstrap)
            await client.bootstrap()
            try:
                cluster = await client.fetch_all_metadata()
                return {t: len(cluster.partitions_for_topic(t) or ()) for t in topics if t in cluster.topics()}
            finally:
                await client.close()

        return asyncio.run(run())
    if client == "kcat":
        metadata = json.loads(run_tool(["kcat", "-L", "-J", "-b", bootstrap]))
        return {t["topic"]: len(t["partitions"]) for t in metadata["topics"] if t["topic"] in topics}
    answer: dict[str, int] = kafkajs("metadata", bootstrap, "", {"topics": topics})
    return answer


def run(client: str, bootstrap: str, topic: str) -> None:
    wanted = {topic + suffix: count for suffix, count in PARTITION_COUNTS.items()}
    for name, count in wanted.items():
        create_topic(bootstrap, name, count)
    listed = listed_partitions(client, bootstrap, sorted(wanted))
    check(listed == wanted, f"listed {listed}, created {wanted}")
