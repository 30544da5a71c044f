"""Admin operations through stock clients against a `streamhouse serve` subprocess.

kafka-python's KafkaAdminClient (3.x API) and confluent-kafka's AdminClient (librdkafka):
create, describe, alter and delete topics, create partitions, delete records, describe the
cluster, and the errors each of them surfaces for requests the broker refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess

TIMEOUT = 30.0


# -- kafka-python ------------------------------------------------------------------


@pytest.fixture
def kafka_admin(broker: BrokerProcess) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="admin-e2e", request_timeout_ms=30000)
    yield admin
    admin.close()


def kafka_python_produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for index in range(count):
            producer.send(topic, b"value-%d" % index, partition=partition).get(TIMEOUT)
    finally:
        producer.close()


def test_kafka_python_topic_lifecycle(broker: BrokerProcess, kafka_admin: Any) -> None:
    from kafka.admin import ConfigResource, NewPartitions, NewTopic
    from kafka.structs import TopicPartition

    topic = "kp-admin-lifecycle"
    kafka_admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
    assert topic in kafka_admin.list_topics()

    modified = kafka_admin.describe_configs([ConfigResource("TOPIC", topic)])["topic"][topic]
    assert {name: entry["value"] for name, entry in modified.items()} == {"retention.ms": "3600000"}
    assert modified["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    everything = kafka_admin.describe_configs([ConfigResource("TOPIC", topic)], config_filter="all")["topic"][topic]
    assert everything["cleanup.policy"]["value"] == "delete"
    assert everything["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"

    # IncrementalAlterConfigs (the client's default), then the legacy AlterConfigs.
    result = kafka_admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.bytes": "1048576"})])
    assert result == {"topic": {topic: "OK"}}
    result = kafka_admin.alter_configs([ConfigResource("TOPIC", topic, {"segment.ms": "600000"})], incremental=False)
    assert result == {"topic": {topic: "OK"}}
    modified = kafka_admin.describe_configs([ConfigResource("TOPIC", topic)])["topic"][topic]
    assert {name: entry["value"] for name, entry in modified.items()} == {
        "retention.ms": "3600000",
        "retention.bytes": "1048576",
        "segment.ms": "600000",
    }

    kafka_admin.create_partitions({topic: NewPartitions(4)})
    [described] = kafka_admin.describe_topics([topic])
    assert len(described["partitions"]) == 4

    kafka_python_produce(broker.bootstrap, topic, 3, 5)
    deleted = kafka_admin.delete_records({TopicPartition(topic, 3): 2})
    assert deleted[TopicPartition(topic, 3)]["low_watermark"] == 2
    deleted = kafka_admin.delete_records({TopicPartition(topic, 3): -1})
    assert deleted[TopicPartition(topic, 3)]["low_watermark"] == 5

    kafka_admin.delete_topics([topic])
    assert topic not in kafka_admin.list_topics()


def test_kafka_python_refusals(broker: BrokerProcess, kafka_admin: Any) -> None:
    import kafka.errors as errors
    from kafka.admin import ConfigResource, NewPartitions, NewTopic
    from kafka.structs import TopicPartition

    topic = "kp-admin-refusals"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])
    with pytest.raises(errors.TopicAlreadyExistsError):
        kafka_admin.create_topics([NewTopic(topic, 2, 1)])
    with pytest.raises(errors.InvalidConfigurationError, match=r"cleanup\.policy"):
        kafka_admin.create_topics([NewTopic("kp-compacted", 1, 1, topic_configs={"cleanup.policy": "shred"})])
    with pytest.raises(errors.InvalidReplicationFactorError):
        kafka_admin.create_topics([NewTopic("kp-replicated", 1, 0)])
    kafka_admin.create_topics([NewTopic("kp-three-copies", 1, 3)])  # accepted: storage keeps the copies
    with pytest.raises(errors.InvalidPartitionsError):
        kafka_admin.create_topics([NewTopic("kp-no-partitions", 0, 1)])
    with pytest.raises(errors.InvalidPartitionsError):
        kafka_admin.create_partitions({topic: NewPartitions(1)})
    with pytest.raises(errors.UnknownTopicOrPartitionError):
        kafka_admin.create_partitions({"kp-absent": NewPartitions(3)})
    result = kafka_admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": "soon"})])
    assert result["topic"][topic].startswith("[Error 40] InvalidConfigurationError")
    result = kafka_admin.alter_configs([ConfigResource("BROKER", "0", {"num.partitions": "4"})], raise_on_unknown=False)
    assert result["broker"]["0"].startswith("[Error 42] InvalidRequestError")
    with pytest.raises(errors.OffsetOutOfRangeError):
        kafka_admin.delete_records({TopicPartition(topic, 0): 10})
    with pytest.raises(errors.UnknownTopicOrPartitionError):
        kafka_admin.delete_topics(["kp-absent"])
    assert set(kafka_admin.list_topics()) >= {topic, "kp-three-copies"}
    assert not {"kp-compacted", "kp-replicated", "kp-no-partitions"} & set(kafka_admin.list_topics())


def test_kafka_python_describe_cluster_and_broker(broker: BrokerProcess, kafka_admin: Any) -> None:
    from kafka.admin import ConfigResource

    cluster = kafka_admin.describe_cluster()
    assert cluster["cluster_id"] == "streamhouse-cluster"
    assert cluster["controller_id"] == 0
    assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [(0, "127.0.0.1", broker.port)]
    configs = kafka_admin.describe_configs([ConfigResource("BROKER", "0")], config_filter="all")["broker"]["0"]
    assert configs["broker.id"]["value"] == "0"
    assert configs["auto.create.topics.enable"]["value"] == "true"
    assert all(entry["read_only"] for entry in configs.values())


# -- confluent-kafka (librdkafka) -------------------------------------------------


@pytest.fixture
def confluent_admin(broker: BrokerProcess) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": broker.bootstrap})


def outcome(futures: dict[Any, Any]) -> dict[Any, Any]:
    """Each future's result, or the KafkaError it failed with."""
    from confluent_kafka import KafkaException

    results = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(TIMEOUT)
        except KafkaException as exc:
            results[key] = exc.args[0]
    return results


def confluent_produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for index in range(count):
        producer.produce(topic, b"value-%d" % index, partition=partition)
    assert producer.flush(TIMEOUT) == 0


def test_confluent_topic_lifecycle(broker: BrokerProcess, confluent_admin: Any) -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    topic = "ck-admin-lifecycle"
    created = outcome(confluent_admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})]))
    assert created == {topic: None}

    resource = ConfigResource(ResourceType.TOPIC, topic)
    [configs] = outcome(confluent_admin.describe_configs([resource])).values()
    assert configs["retention.ms"].value == "3600000"
    assert not configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].is_default

    change = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.bytes", "4096", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    assert list(outcome(confluent_admin.incremental_alter_configs([change])).values()) == [None]
    [configs] = outcome(confluent_admin.describe_configs([resource])).values()
    assert {name: entry.value for name, entry in configs.items() if not entry.is_default} == {"retention.bytes": "4096"}

    assert outcome(confluent_admin.create_partitions([NewPartitions(topic, 3)])) == {topic: None}
    confluent_produce(broker.bootstrap, topic, 2, 6)
    [deleted] = outcome(confluent_admin.delete_records([TopicPartition(topic, 2, 4)])).values()
    assert deleted.low_watermark == 4

    cluster = confluent_admin.describe_cluster().result(TIMEOUT)
    assert cluster.cluster_id == "streamhouse-cluster"
    assert [(node.id, node.host, node.port) for node in cluster.nodes] == [(0, "127.0.0.1", broker.port)]

    assert outcome(confluent_admin.delete_topics([topic])) == {topic: None}
    [gone] = outcome(confluent_admin.describe_configs([resource])).values()
    assert gone.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION


def test_confluent_refusals(broker: BrokerProcess, confluent_admin: Any) -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    topic = "ck-admin-refusals"
    assert outcome(confluent_admin.create_topics([NewTopic(topic, 2, 1)])) == {topic: None}
    refused = outcome(
        confluent_admin.create_topics(
            [
                NewTopic(topic, 2, 1),
                NewTopic("ck-compacted", 1, 1, config={"cleanup.policy": "compact,shred"}),
                NewTopic("bad/name", 1, 1),
            ]
        )
    )
    assert {name: error.code() for name, error in refused.items()} == {
        topic: 36,  # TOPIC_ALREADY_EXISTS
        "ck-compacted": 40,  # INVALID_CONFIG
        "bad/name": 17,  # INVALID_TOPIC_EXCEPTION
    }
    assert "cleanup.policy" in refused["ck-compacted"].str()
    # Any replication factor is accepted: storage keeps the copies (librdkafka refuses 0 itself).
    assert outcome(confluent_admin.create_topics([NewTopic("ck-three-copies", 1, 3)])) == {"ck-three-copies": None}
    assert outcome(confluent_admin.create_topics([NewTopic("ck-dry-run", 1, 1)], validate_only=True)) == {
        "ck-dry-run": None
    }
    [unknown_topic] = outcome(
        confluent_admin.describe_configs([ConfigResource(ResourceType.TOPIC, "ck-dry-run")])
    ).values()
    assert unknown_topic.code() == 3

    grown = outcome(confluent_admin.create_partitions([NewPartitions(topic, 1), NewPartitions("ck-absent", 3)]))
    assert {name: error.code() for name, error in grown.items()} == {topic: 37, "ck-absent": 3}

    append_unknown_policy = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("cleanup.policy", "shred", incremental_operation=AlterConfigOpType.APPEND)],
    )
    append_number = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)],
    )
    for change in (append_unknown_policy, append_number):
        [error] = outcome(confluent_admin.incremental_alter_configs([change])).values()
        assert error.code() == 40  # INVALID_CONFIG
    broker_change = ConfigResource(
        ResourceType.BROKER,
        "0",
        incremental_configs=[ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)],
    )
    [error] = outcome(confluent_admin.incremental_alter_configs([broker_change])).values()
    assert error.code() == 42  # INVALID_REQUEST
    assert "read-only" in error.str()

    [error] = outcome(confluent_admin.delete_records([TopicPartition(topic, 0, 100)])).values()
    assert error.code() == 1  # OFFSET_OUT_OF_RANGE
    [error] = outcome(confluent_admin.delete_topics(["ck-absent"])).values()
    assert error.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
