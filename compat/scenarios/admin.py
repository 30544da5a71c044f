"""Admin: create a topic, describe it, alter and read back a config, delete it, and see it gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from compat.clients import check, kafkajs

CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "kafkajs")
PARTITIONS = 3
RETENTION_MS = "3600000"


def kafka_python_steps(bootstrap: str, topic: str) -> dict[str, Any]:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        described = admin.describe_topics([topic])[0]
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": RETENTION_MS})
        admin.alter_configs([resource])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        retention = configs["topic"][topic].get("retention.ms", {}).get("value")
        admin.delete_topics([topic])
        return {
            "partitions": len(described["partitions"]),
            "retention.ms": retention,
            "listed_after_delete": topic in admin.list_topics(),
        }
    finally:
        admin.close()


def confluent_steps(bootstrap: str, topic: str) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    partitions = len(admin.list_topics(topic, timeout=30).topics[topic].partitions)
    resource = ConfigResource("topic", topic, set_config={"retention.ms": RETENTION_MS})
    for future in admin.alter_configs([resource]).values():
        future.result(30)
    described = next(iter(admin.describe_configs([ConfigResource("topic", topic)]).values())).result(30)
    admin.delete_topics([topic])[topic].result(30)
    time.sleep(0.5)  # librdkafka caches metadata; ask again after the delete answer
    return {
        "partitions": partitions,
        "retention.ms": described["retention.ms"].value,
        "listed_after_delete": topic in admin.list_topics(timeout=30).topics,
    }


def aiokafka_steps(bootstrap: str, topic: str) -> dict[str, Any]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async def run() -> dict[str, Any]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
            described = (await admin.describe_topics([topic]))[0]
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": RETENTION_MS})])
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
            await admin.delete_topics([topic])
            return {
                "partitions": len(described["partitions"]),
                "retention.ms": entries.get("retention.ms"),
                "listed_after_delete": topic in await admin.list_topics(),
            }
        finally:
            await admin.close()

    return asyncio.run(run())


def run(client: str, bootstrap: str, topic: str) -> None:
    steps = {"kafka-python": kafka_python_steps, "confluent-kafka": confluent_steps, "aiokafka": aiokafka_steps}
    if client in steps:
        seen = steps[client](bootstrap, topic)
    else:
        seen = kafkajs("admin", bootstrap, topic, {"partitions": PARTITIONS, "retention": RETENTION_MS})
    expected = {"partitions": PARTITIONS, "retention.ms": RETENTION_MS, "listed_after_delete": False}
    check(seen == expected, f"saw {seen}, expected {expected}")
