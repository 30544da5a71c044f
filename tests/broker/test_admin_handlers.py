"""Admin handlers against a real Broker (SQLite metadata, memory objects), called directly.

Requests go through the codecs (encode_request, then decode_request) and responses through
encode_response and decode_response at the same version, so a field set in a version that
cannot carry it fails here as it would on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.handlers import HANDLERS
from streamhouse.broker.handlers.metadata import CLUSTER_ID
from streamhouse.broker.server import Connection
from streamhouse.broker.topics import TOPIC_CONFIGS
from streamhouse.protocol import wire
from streamhouse.protocol.apis.alter_configs import ALTER_CONFIGS
from streamhouse.protocol.apis.create_partitions import CREATE_PARTITIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_records import DELETE_RECORDS
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.apis.describe_cluster import DESCRIBE_CLUSTER
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
from streamhouse.protocol.apis.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch, iter_batches
from tests.broker.inprocess import running_broker

TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5
ZERO_UUID = UUID(int=0)


def versions(api: ApiCodec) -> list[int]:
    return list(range(api.min_version, api.max_version + 1))


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path) as instance:
        yield instance


async def call(broker: Broker, api: ApiCodec, version: int, body: Any, connection: Any = None) -> Any:
    """Encode the request, decode it as the server does, handle it, and round-trip the response."""
    frame = wire.encode_request(api, version, 7, "admin-test", body)
    request = wire.decode_request(frame[4:])
    assert isinstance(request, wire.Request)
    # No connection given: one that came in through the broker's first listener (never connected).
    response = await HANDLERS[api.key](broker, request, connection or Connection(broker, broker.listeners[0]))
    encoded = wire.encode_response(api, version, 7, response)
    correlation_id, decoded = wire.decode_response(api, version, encoded[4:])
    assert correlation_id == 7
    return decoded


# -- request builders ------------------------------------------------------------


def create_body(*topics: Any, validate_only: bool = False) -> Any:
    return CREATE_TOPICS.Request(topics=list(topics), timeout_ms=5000, validate_only=validate_only)


def creatable(
    name: str,
    partitions: int = 1,
    replication: int = 1,
    configs: dict[str, str | None] | None = None,
    assignments: dict[int, list[int]] | None = None,
) -> Any:
    Topic = CREATE_TOPICS.Request.CreatableTopic
    return Topic(
        name=name,
        num_partitions=partitions,
        replication_factor=replication,
        assignments=[
            Topic.CreatableReplicaAssignment(partition_index=index, broker_ids=ids)
            for index, ids in (assignments or {}).items()
        ],
        configs=[Topic.CreatableTopicConfig(name=key, value=value) for key, value in (configs or {}).items()],
    )


async def create(broker: Broker, name: str, partitions: int = 1, configs: dict[str, str | None] | None = None) -> Any:
    response = await call(broker, CREATE_TOPICS, 7, create_body(creatable(name, partitions, configs=configs)))
    [result] = response.topics
    assert result.error_code == ErrorCode.NONE, result.error_message
    return result


def describe_body(*resources: tuple[int, str, list[str] | None], synonyms: bool = False) -> Any:
    Resource = DESCRIBE_CONFIGS.Request.DescribeConfigsResource
    return DESCRIBE_CONFIGS.Request(
        resources=[
            Resource(resource_type=kind, resource_name=name, configuration_keys=keys) for kind, name, keys in resources
        ],
        include_synonyms=synonyms,
    )


def alter_body(*resources: tuple[int, str, dict[str, str | None]], validate_only: bool = False) -> Any:
    Resource = ALTER_CONFIGS.Request.AlterConfigsResource
    return ALTER_CONFIGS.Request(
        resources=[
            Resource(
                resource_type=kind,
                resource_name=name,
                configs=[Resource.AlterableConfig(name=key, value=value) for key, value in configs.items()],
            )
            for kind, name, configs in resources
        ],
        validate_only=validate_only,
    )


def incremental_body(
    *resources: tuple[int, str, list[tuple[str, int, str | None]]], validate_only: bool = False
) -> Any:
    Resource = INCREMENTAL_ALTER_CONFIGS.Request.AlterConfigsResource
    return INCREMENTAL_ALTER_CONFIGS.Request(
        resources=[
            Resource(
                resource_type=kind,
                resource_name=name,
                configs=[
                    Resource.AlterableConfig(name=key, config_operation=operation, value=value)
                    for key, operation, value in operations
                ],
            )
            for kind, name, operations in resources
        ],
        validate_only=validate_only,
    )


async def describe_topic(broker: Broker, name: str, version: int = 4, synonyms: bool = False) -> dict[str, Any]:
    response = await call(broker, DESCRIBE_CONFIGS, version, describe_body((TOPIC, name, None), synonyms=synonyms))
    [result] = response.results
    assert result.error_code == ErrorCode.NONE, result.error_message
    return {entry.name: entry for entry in result.configs}


async def produce(broker: Broker, name: str, partition: int, count: int) -> None:
    topic = await broker.topics.get(name)
    assert topic is not None
    data = build_batch([Record(key=None, value=b"v%d" % index) for index in range(count)])
    [(header, _)] = list(iter_batches(data))
    result = await broker.log.append(topic.topic_id, partition, data, header)
    assert result.error_code == 0


# -- CreateTopics ----------------------------------------------------------------


@pytest.mark.parametrize("version", versions(CREATE_TOPICS))
async def test_create_topics_happy_path_every_version(broker: Broker, version: int) -> None:
    body = create_body(creatable("orders", 3, configs={"retention.ms": "1000"}))
    [result] = (await call(broker, CREATE_TOPICS, version, body)).topics
    assert (result.name, result.error_code) == ("orders", ErrorCode.NONE)
    stored = await broker.metadata.topics.get_topic("orders")
    assert stored is not None
    assert stored.partitions == 3
    assert dict(stored.configs) == {"retention.ms": "1000"}
    assert await broker.topics.get("orders") == stored
    if version >= 5:
        assert (result.num_partitions, result.replication_factor) == (3, 1)
        configs = {entry.name: entry for entry in result.configs}
        assert set(configs) == set(TOPIC_CONFIGS)
        assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("1000", DYNAMIC_TOPIC_CONFIG)
        assert (configs["segment.ms"].value, configs["segment.ms"].config_source) == ("604800000", DEFAULT_CONFIG)
        assert not any(entry.read_only or entry.is_sensitive for entry in result.configs)
    if version >= 7:
        assert result.topic_id == stored.topic_id != ZERO_UUID


async def test_create_topics_accepts_any_replication_factor_and_keeps_one_copy(broker: Broker) -> None:
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("three-copies", 2, 3)))).topics
    assert result.error_code == ErrorCode.NONE
    assert (result.num_partitions, result.replication_factor) == (2, 1)  # storage keeps the copies


async def test_create_topics_defaults_for_minus_one(broker: Broker) -> None:
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("defaults", -1, -1)))).topics
    assert result.error_code == ErrorCode.NONE
    assert (result.num_partitions, result.replication_factor) == (2, 1)  # broker.config.num_partitions
    stored = await broker.metadata.topics.get_topic("defaults")
    assert stored is not None and stored.partitions == 2


@pytest.mark.parametrize(
    ("topic", "error", "fragment"),
    [
        (creatable("bad/name"), ErrorCode.INVALID_TOPIC_EXCEPTION, "characters"),
        (creatable(""), ErrorCode.INVALID_TOPIC_EXCEPTION, "empty"),
        (creatable("zero", 0), ErrorCode.INVALID_PARTITIONS, "at least 1"),
        (creatable("negative", -2), ErrorCode.INVALID_PARTITIONS, "at least 1"),
        (creatable("none", 1, 0), ErrorCode.INVALID_REPLICATION_FACTOR, "larger than 0"),
        (creatable("manual", 1, -1, assignments={0: [0]}), ErrorCode.INVALID_REQUEST, "assignment"),
        (creatable("unknown-config", configs={"flavour": "x"}), ErrorCode.INVALID_CONFIG, "unknown topic config"),
        (
            creatable("bad-value", configs={"retention.ms": "soon"}),
            ErrorCode.INVALID_CONFIG,
            "Not a number of type LONG",
        ),
        (
            creatable("shredded", configs={"cleanup.policy": "compact,shred"}),
            ErrorCode.INVALID_CONFIG,
            "cleanup.policy",
        ),
        (creatable("null-config", configs={"retention.ms": None}), ErrorCode.INVALID_CONFIG, "null"),
    ],
)
async def test_create_topics_errors(broker: Broker, topic: Any, error: ErrorCode, fragment: str) -> None:
    for version in (2, 7):
        [result] = (await call(broker, CREATE_TOPICS, version, create_body(topic))).topics
        assert result.error_code == error
        assert fragment in result.error_message
        if version >= 5:
            assert (result.num_partitions, result.replication_factor) == (-1, -1)
    assert await broker.metadata.topics.list_topics() == []


async def test_create_topics_already_exists(broker: Broker) -> None:
    await create(broker, "taken")
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("taken", 4)))).topics
    assert result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert "already exists" in result.error_message
    stored = await broker.metadata.topics.get_topic("taken")
    assert stored is not None and stored.partitions == 1


async def test_create_topics_duplicate_in_request(broker: Broker) -> None:
    body = create_body(creatable("twice"), creatable("twice", 2), creatable("once"))
    results = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert [(r.name, r.error_code) for r in results] == [
        ("twice", ErrorCode.INVALID_REQUEST),
        ("twice", ErrorCode.INVALID_REQUEST),
        ("once", ErrorCode.NONE),
    ]
    assert [topic.name for topic in await broker.metadata.topics.list_topics()] == ["once"]


async def test_create_topics_validate_only(broker: Broker) -> None:
    body = create_body(creatable("dry-run", 5, configs={"retention.bytes": "100"}), validate_only=True)
    [result] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert result.error_code == ErrorCode.NONE
    assert result.num_partitions == 5
    assert {entry.name: entry.value for entry in result.configs}["retention.bytes"] == "100"
    assert await broker.metadata.topics.get_topic("dry-run") is None
    invalid = create_body(creatable("dry-run", 0), validate_only=True)
    [result] = (await call(broker, CREATE_TOPICS, 7, invalid)).topics
    assert result.error_code == ErrorCode.INVALID_PARTITIONS


# -- DeleteTopics ----------------------------------------------------------------


def delete_by_name(version: int, *names: str) -> Any:
    if version >= 6:
        State = DELETE_TOPICS.Request.DeleteTopicState
        return DELETE_TOPICS.Request(topics=[State(name=name) for name in names], timeout_ms=5000)
    return DELETE_TOPICS.Request(topic_names=list(names), timeout_ms=5000)


@pytest.mark.parametrize("version", versions(DELETE_TOPICS))
async def test_delete_topics_by_name(broker: Broker, version: int) -> None:
    await create(broker, "doomed", 2)
    stored = await broker.metadata.topics.get_topic("doomed")
    assert stored is not None
    await produce(broker, "doomed", 0, 3)
    results = (await call(broker, DELETE_TOPICS, version, delete_by_name(version, "doomed", "never-was"))).responses
    assert [(r.name, r.error_code) for r in results] == [
        ("doomed", ErrorCode.NONE),
        ("never-was", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    if version >= 5:
        assert results[0].error_message is None
        assert "does not exist" in results[1].error_message
    if version >= 6:
        assert results[0].topic_id == stored.topic_id
    assert await broker.metadata.topics.get_topic("doomed") is None
    assert await broker.topics.get("doomed") is None
    # The partition log forgot its cached state: a new topic of that name starts empty.
    await create(broker, "doomed", 2)
    again = await broker.metadata.topics.get_topic("doomed")
    assert again is not None
    assert (await broker.log.state(again.topic_id, 0)).high_watermark == 0


async def test_delete_topics_by_id(broker: Broker) -> None:
    await create(broker, "by-id")
    stored = await broker.metadata.topics.get_topic("by-id")
    assert stored is not None
    State = DELETE_TOPICS.Request.DeleteTopicState
    missing = UUID(int=12345)
    body = DELETE_TOPICS.Request(
        topics=[
            State(name=None, topic_id=stored.topic_id),
            State(name=None, topic_id=missing),
            State(name="by-id", topic_id=stored.topic_id),
            State(name=None, topic_id=ZERO_UUID),
        ],
        timeout_ms=5000,
    )
    results = (await call(broker, DELETE_TOPICS, 6, body)).responses
    assert [(r.name, r.topic_id, r.error_code) for r in results] == [
        ("by-id", stored.topic_id, ErrorCode.NONE),
        (None, missing, ErrorCode.UNKNOWN_TOPIC_ID),
        ("by-id", stored.topic_id, ErrorCode.INVALID_REQUEST),
        (None, ZERO_UUID, ErrorCode.INVALID_REQUEST),
    ]
    assert await broker.metadata.topics.get_topic("by-id") is None


async def test_delete_topics_duplicates(broker: Broker) -> None:
    await create(broker, "dup")
    results = (await call(broker, DELETE_TOPICS, 5, delete_by_name(5, "dup", "dup"))).responses
    assert [r.error_code for r in results] == [ErrorCode.INVALID_REQUEST] * 2
    assert await broker.metadata.topics.get_topic("dup") is not None


# -- CreatePartitions ------------------------------------------------------------


def grow_body(*topics: tuple[str, int, list[list[int]] | None], validate_only: bool = False) -> Any:
    Topic = CREATE_PARTITIONS.Request.CreatePartitionsTopic
    return CREATE_PARTITIONS.Request(
        topics=[
            Topic(
                name=name,
                count=count,
                assignments=None
                if assignments is None
                else [Topic.CreatePartitionsAssignment(broker_ids=ids) for ids in assignments],
            )
            for name, count, assignments in topics
        ],
        timeout_ms=5000,
        validate_only=validate_only,
    )


@pytest.mark.parametrize("version", versions(CREATE_PARTITIONS))
async def test_create_partitions_grows(broker: Broker, version: int) -> None:
    await create(broker, "growing", 1)
    [result] = (await call(broker, CREATE_PARTITIONS, version, grow_body(("growing", 4, None)))).results
    assert (result.name, result.error_code, result.error_message) == ("growing", ErrorCode.NONE, None)
    stored = await broker.metadata.topics.get_topic("growing")
    assert stored is not None and stored.partitions == 4
    cached = await broker.topics.get("growing")
    assert cached is not None and cached.partitions == 4
    assert (await broker.log.state(stored.topic_id, 3)).high_watermark == 0


async def test_create_partitions_errors(broker: Broker) -> None:
    await create(broker, "fixed", 3)
    body = grow_body(
        ("fixed", 3, None),
        ("fixed-too", 2, None),
        ("absent", 5, None),
        ("bad/name", 5, None),
    )
    await create(broker, "fixed-too", 3)
    results = (await call(broker, CREATE_PARTITIONS, 3, body)).results
    assert [r.error_code for r in results] == [
        ErrorCode.INVALID_PARTITIONS,
        ErrorCode.INVALID_PARTITIONS,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ]
    assert "already has 3" in results[0].error_message
    assert "more than the requested 2" in results[1].error_message
    [result] = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("fixed", 5, [[0]])))).results
    assert result.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT  # 2 new partitions, 1 assignment
    results = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("fixed", 5, None), ("fixed", 6, None)))).results
    assert [r.error_code for r in results] == [ErrorCode.INVALID_REQUEST] * 2
    stored = await broker.metadata.topics.get_topic("fixed")
    assert stored is not None and stored.partitions == 3


async def test_create_partitions_validate_only(broker: Broker) -> None:
    await create(broker, "dry", 1)
    [result] = (await call(broker, CREATE_PARTITIONS, 2, grow_body(("dry", 8, None), validate_only=True))).results
    assert result.error_code == ErrorCode.NONE
    stored = await broker.metadata.topics.get_topic("dry")
    assert stored is not None and stored.partitions == 1


# -- DescribeConfigs -------------------------------------------------------------


@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
async def test_describe_topic_configs(broker: Broker, version: int) -> None:
    await create(broker, "described", configs={"retention.ms": "1000"})
    configs = await describe_topic(broker, "described", version)
    assert set(configs) == set(TOPIC_CONFIGS)
    retention = configs["retention.ms"]
    assert (retention.value, retention.config_source, retention.read_only) == ("1000", DYNAMIC_TOPIC_CONFIG, False)
    for name, spec in TOPIC_CONFIGS.items():
        if name != "retention.ms":
            assert (configs[name].value, configs[name].config_source) == (spec.default, DEFAULT_CONFIG)
    assert all(entry.synonyms == [] for entry in configs.values())
    if version >= 3:
        types = {name: entry.config_type for name, entry in configs.items()}
        assert types["cleanup.policy"] == 7  # LIST
        assert types["retention.ms"] == 5  # LONG
        assert types["max.message.bytes"] == 3  # INT
        assert types["compression.type"] == 2  # STRING
        assert types["unclean.leader.election.enable"] == 1  # BOOLEAN
        assert all(entry.documentation is None for entry in configs.values())


async def test_describe_topic_timestamp_bounds_with_kafka_4_defaults(broker: Broker) -> None:
    await create(broker, "bounded", configs={"message.timestamp.before.max.ms": "60000"})
    configs = await describe_topic(broker, "bounded", 3)
    described = {name: (entry.value, entry.config_source, entry.config_type) for name, entry in configs.items()}
    assert described["message.timestamp.before.max.ms"] == ("60000", DYNAMIC_TOPIC_CONFIG, 5)  # LONG
    assert described["message.timestamp.after.max.ms"] == ("3600000", DEFAULT_CONFIG, 5)


async def test_describe_topic_configs_keys_and_synonyms(broker: Broker) -> None:
    await create(broker, "synonymous", configs={"retention.ms": "1000"})
    body = describe_body((TOPIC, "synonymous", ["retention.ms", "segment.ms", "no.such.config"]), synonyms=True)
    [result] = (await call(broker, DESCRIBE_CONFIGS, 4, body)).results
    configs = {entry.name: entry for entry in result.configs}
    assert set(configs) == {"retention.ms", "segment.ms"}
    assert [(s.name, s.value, s.source) for s in configs["retention.ms"].synonyms] == [
        ("retention.ms", "1000", DYNAMIC_TOPIC_CONFIG),
        ("log.retention.ms", "604800000", DEFAULT_CONFIG),
    ]
    assert [(s.name, s.value, s.source) for s in configs["segment.ms"].synonyms] == [
        ("log.roll.ms", "604800000", DEFAULT_CONFIG),
    ]
    # An empty key list means every config, as in Kafka.
    [result] = (await call(broker, DESCRIBE_CONFIGS, 4, describe_body((TOPIC, "synonymous", [])))).results
    assert len(result.configs) == len(TOPIC_CONFIGS)


async def test_describe_topic_config_from_a_broker_flag(tmp_path: Path) -> None:
    async with running_broker(tmp_path, num_partitions=1, message_max_bytes=2_000_000) as instance:
        await create(instance, "flagged")
        configs = await describe_topic(instance, "flagged", synonyms=True)
        entry = configs["max.message.bytes"]
        assert (entry.value, entry.config_source) == ("2000000", STATIC_BROKER_CONFIG)
        assert [(s.name, s.value, s.source) for s in entry.synonyms] == [
            ("message.max.bytes", "2000000", STATIC_BROKER_CONFIG),
            ("message.max.bytes", "1048588", DEFAULT_CONFIG),
        ]


async def test_describe_configs_errors(broker: Broker) -> None:
    body = describe_body(
        (TOPIC, "absent", None),
        (TOPIC, "bad/name", None),
        (BROKER, "7", None),
        (BROKER, "zero", None),
        (99, "x", None),
    )
    results = (await call(broker, DESCRIBE_CONFIGS, 4, body)).results
    assert [(r.resource_type, r.resource_name, r.error_code) for r in results] == [
        (TOPIC, "absent", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        (TOPIC, "bad/name", ErrorCode.INVALID_TOPIC_EXCEPTION),
        (BROKER, "7", ErrorCode.INVALID_REQUEST),
        (BROKER, "zero", ErrorCode.INVALID_REQUEST),
        (99, "x", ErrorCode.INVALID_REQUEST),
    ]
    assert all(r.error_message and not r.configs for r in results)


@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
async def test_describe_broker_configs(broker: Broker, version: int) -> None:
    body = describe_body((BROKER, "0", None), (BROKER, "", None), synonyms=True)
    mine, default = (await call(broker, DESCRIBE_CONFIGS, version, body)).results
    assert (mine.error_code, default.error_code) == (ErrorCode.NONE, ErrorCode.NONE)
    assert default.configs == []
    configs = {entry.name: entry for entry in mine.configs}
    assert configs["broker.id"].value == "0"
    assert configs["num.partitions"].value == "2"
    assert configs["auto.create.topics.enable"].value == "true"
    assert configs["message.max.bytes"].value == str(broker.config.message_max_bytes)
    assert configs["socket.request.max.bytes"].value == str(broker.config.socket_request_max_bytes)
    assert configs["log.dirs"].value == broker.config.storage_url == "memory://"
    # librdkafka's re-authentication test reads this one to learn the session lifetime
    assert configs["connections.max.reauth.ms"].value == str(broker.config.connections_max_reauth_ms) == "0"
    assert configs["queued.max.requests"].value == "500"
    assert configs["num.partitions"].config_source == STATIC_BROKER_CONFIG
    assert configs["log.retention.ms"].config_source == DEFAULT_CONFIG
    # The log cleaner's settings, and the broker defaults of the cleaner's topic configs, as Kafka names them.
    assert configs["log.cleaner.backoff.ms"].value == str(broker.config.log_cleaner_interval_ms)
    assert configs["log.cleaner.io.max.bytes.per.second"].value == "1.7976931348623157E308"
    assert configs["log.cleaner.min.cleanable.ratio"].value == "0.5"
    assert configs["log.cleaner.max.compaction.lag.ms"].value == str(2**63 - 1)
    assert configs["log.cleaner.delete.retention.ms"].value == "86400000"
    assert all(entry.read_only and len(entry.synonyms) == 1 for entry in configs.values())
    if version >= 3:
        assert configs["auto.create.topics.enable"].config_type == 1


# -- AlterConfigs ----------------------------------------------------------------


@pytest.mark.parametrize("version", versions(ALTER_CONFIGS))
async def test_alter_configs_replaces_the_whole_set(broker: Broker, version: int) -> None:
    await create(broker, "altered", configs={"retention.ms": "1000"})
    body = alter_body((TOPIC, "altered", {"segment.ms": "5000", "retention.bytes": None}))
    [result] = (await call(broker, ALTER_CONFIGS, version, body)).responses
    assert (result.error_code, result.error_message, result.resource_name) == (ErrorCode.NONE, None, "altered")
    stored = await broker.metadata.topics.get_topic("altered")
    assert stored is not None and dict(stored.configs) == {"segment.ms": "5000"}
    cached = await broker.topics.get("altered")
    assert cached is not None and dict(cached.configs) == {"segment.ms": "5000"}
    configs = await describe_topic(broker, "altered")
    assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("604800000", DEFAULT_CONFIG)


async def test_alter_configs_validate_only(broker: Broker) -> None:
    await create(broker, "kept", configs={"retention.ms": "1000"})
    body = alter_body((TOPIC, "kept", {"segment.ms": "5000"}), validate_only=True)
    [result] = (await call(broker, ALTER_CONFIGS, 2, body)).responses
    assert result.error_code == ErrorCode.NONE
    stored = await broker.metadata.topics.get_topic("kept")
    assert stored is not None and dict(stored.configs) == {"retention.ms": "1000"}


async def test_alter_configs_errors(broker: Broker) -> None:
    await create(broker, "strict", configs={"retention.ms": "1000"})
    body = alter_body(
        (TOPIC, "strict", {"retention.ms": "-5", "segment.ms": "0"}),
        (TOPIC, "absent", {"retention.ms": "1"}),
        (BROKER, "0", {"num.partitions": "3"}),
        (BROKER, "", {}),
        (99, "x", {}),
    )
    results = (await call(broker, ALTER_CONFIGS, 1, body)).responses
    assert [r.error_code for r in results] == [
        ErrorCode.INVALID_CONFIG,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.NONE,
        ErrorCode.INVALID_REQUEST,
    ]
    assert "for configuration retention.ms: Value must be at least -1" in results[0].error_message
    assert "read-only" in results[2].error_message
    for configs, fragment in [({"flavour": "x"}, "unknown"), ({"cleanup.policy": "shred"}, "cleanup.policy")]:
        [result] = (await call(broker, ALTER_CONFIGS, 2, alter_body((TOPIC, "strict", configs)))).responses
        assert result.error_code == ErrorCode.INVALID_CONFIG
        assert fragment in result.error_message
    twice = alter_body((TOPIC, "strict", {"segment.ms": "5"}), (TOPIC, "strict", {"segment.ms": "6"}))
    assert [r.error_code for r in (await call(broker, ALTER_CONFIGS, 2, twice)).responses] == [
        ErrorCode.INVALID_REQUEST
    ] * 2
    stored = await broker.metadata.topics.get_topic("strict")
    assert stored is not None and dict(stored.configs) == {"retention.ms": "1000"}


# The topic configs of Apache Kafka 4.x that issue 32 names: each must be accepted and described.
KAFKA_4_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
    "flush.ms", "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.type",
    "message.timestamp.before.max.ms", "message.timestamp.after.max.ms", "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "retention.bytes", "retention.ms",
    "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
    "local.retention.ms", "local.retention.bytes", "remote.storage.enable",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("min.cleanable.dirty.ratio", "1.5", "Value must be no more than 1"),
        ("min.cleanable.dirty.ratio", "half", "Not a number of type DOUBLE"),
        ("preallocate", "yes", "Expected value to be either true or false"),
        ("max.compaction.lag.ms", "0", "Value must be at least 1"),
        ("segment.index.bytes", "3000000000", "Not a number of type INT"),
        ("compression.type", "brotli", "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        ("compression.gzip.level", "10", "Value must be between 1 and 9, or -1"),
        ("compression.zstd.level", "23", "Value must be no more than 22"),
        ("local.retention.ms", "-3", "Value must be at least -2"),
        ("flush.messages", "0", "Value must be at least 1"),
        ("cleanup.policy", "shred", "String must be one of: compact, delete"),
    ],
)
async def test_topic_configs_are_validated_with_kafkas_messages(
    broker: Broker, name: str, value: str, reason: str
) -> None:
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("checked", configs={name: value})))).topics
    assert result.error_code == ErrorCode.INVALID_CONFIG
    assert result.error_message == f"Invalid value {value} for configuration {name}: {reason}"


async def test_a_list_config_names_the_item_it_refuses(broker: Broker) -> None:
    configs = {"cleanup.policy": "compact,shred"}
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("checked", configs=configs)))).topics
    assert result.error_code == ErrorCode.INVALID_CONFIG
    assert (
        result.error_message
        == "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete"
    )


async def test_every_kafka_topic_config_is_accepted_at_its_default_and_described(broker: Broker) -> None:
    assert set(TOPIC_CONFIGS) >= KAFKA_4_TOPIC_CONFIGS
    defaults = {name: spec.default for name, spec in TOPIC_CONFIGS.items()}
    [result] = (await call(broker, CREATE_TOPICS, 7, create_body(creatable("every", configs=defaults)))).topics
    assert (result.error_code, result.error_message) == (ErrorCode.NONE, None)
    [described] = (await call(broker, DESCRIBE_CONFIGS, 4, describe_body((TOPIC, "every", None)))).results
    assert {entry.name: entry.value for entry in described.configs} == defaults
    assert {entry.config_source for entry in described.configs} == {1}  # all set on the topic
    types = {entry.name: entry.config_type for entry in described.configs}
    assert (types["min.cleanable.dirty.ratio"], types["preallocate"], types["flush.ms"]) == (6, 1, 5)


# -- IncrementalAlterConfigs -----------------------------------------------------


@pytest.mark.parametrize("version", versions(INCREMENTAL_ALTER_CONFIGS))
async def test_incremental_alter_configs_set_and_delete(broker: Broker, version: int) -> None:
    await create(broker, "incremental", configs={"retention.ms": "1000", "segment.ms": "2000"})
    operations = [
        ("retention.ms", DELETE, None),
        ("retention.bytes", SET, "4096"),
        ("cleanup.policy", APPEND, "delete"),
    ]
    [result] = (
        await call(broker, INCREMENTAL_ALTER_CONFIGS, version, incremental_body((TOPIC, "incremental", operations)))
    ).responses
    assert (result.error_code, result.error_message) == (ErrorCode.NONE, None)
    stored = await broker.metadata.topics.get_topic("incremental")
    assert stored is not None
    assert dict(stored.configs) == {"segment.ms": "2000", "retention.bytes": "4096", "cleanup.policy": "delete"}
    cached = await broker.topics.get("incremental")
    assert cached == stored


@pytest.mark.parametrize(
    ("before", "operation", "value", "after"),
    [
        (None, APPEND, "compact", "delete,compact"),  # on Kafka's default when the topic sets none
        ("compact", APPEND, "compact,delete", "compact,delete"),  # a part present is not added twice
        ("compact,delete", SUBTRACT, "delete", "compact"),
        ("compact,delete", SUBTRACT, "compact,delete", ""),  # emptied: allowed (Kafka 4.2), no retention
        (None, SUBTRACT, "delete", ""),
        ("compact", SUBTRACT, "delete", "compact"),  # a part absent: nothing to remove
        ("", APPEND, "compact", "compact"),
    ],
)
async def test_incremental_alter_configs_append_and_subtract_on_a_list(
    broker: Broker, before: str | None, operation: int, value: str, after: str
) -> None:
    await create(broker, "listed", configs={} if before is None else {"cleanup.policy": before})
    body = incremental_body((TOPIC, "listed", [("cleanup.policy", operation, value)]))
    [result] = (await call(broker, INCREMENTAL_ALTER_CONFIGS, 1, body)).responses
    assert (result.error_code, result.error_message) == (ErrorCode.NONE, None)
    stored = await broker.metadata.topics.get_topic("listed")
    assert stored is not None and stored.configs["cleanup.policy"] == after
    # DescribeConfigs reports the value set, empty included, as set on the topic.
    [described] = (
        await call(broker, DESCRIBE_CONFIGS, 4, describe_body((TOPIC, "listed", ["cleanup.policy"])))
    ).results
    [entry] = described.configs
    assert (entry.value, entry.config_source, entry.config_type) == (after, 1, 7)


async def test_incremental_alter_configs_validate_only(broker: Broker) -> None:
    await create(broker, "unchanged", configs={"retention.ms": "1000"})
    body = incremental_body((TOPIC, "unchanged", [("retention.ms", DELETE, None)]), validate_only=True)
    [result] = (await call(broker, INCREMENTAL_ALTER_CONFIGS, 1, body)).responses
    assert result.error_code == ErrorCode.NONE
    stored = await broker.metadata.topics.get_topic("unchanged")
    assert stored is not None and dict(stored.configs) == {"retention.ms": "1000"}


@pytest.mark.parametrize(
    ("operations", "error", "fragment"),
    [
        ([("cleanup.policy", APPEND, "shred")], ErrorCode.INVALID_CONFIG, "cleanup.policy"),
        ([("retention.ms", APPEND, "5")], ErrorCode.INVALID_CONFIG, "Can't APPEND to key retention.ms"),
        ([("retention.ms", SUBTRACT, "5")], ErrorCode.INVALID_CONFIG, "because its type is not LIST"),
        ([("retention.ms", SET, "later")], ErrorCode.INVALID_CONFIG, "Not a number of type LONG"),
        ([("retention.ms", SET, None)], ErrorCode.INVALID_CONFIG, "null"),
        ([("flavour", SET, "x")], ErrorCode.INVALID_CONFIG, "unknown"),
        ([("flavour", DELETE, None)], ErrorCode.INVALID_CONFIG, "unknown"),
        ([("retention.ms", 9, "5")], ErrorCode.INVALID_REQUEST, "operation"),
        ([("segment.ms", SET, "5"), ("segment.ms", DELETE, None)], ErrorCode.INVALID_REQUEST, "more than once"),
        # Every operation is checked before any is applied.
        ([("segment.ms", SET, "5"), ("retention.ms", SET, "x")], ErrorCode.INVALID_CONFIG, "Not a number of type LONG"),
    ],
)
async def test_incremental_alter_configs_errors(
    broker: Broker, operations: list[tuple[str, int, str | None]], error: ErrorCode, fragment: str
) -> None:
    await create(broker, "guarded", configs={"retention.ms": "1000"})
    [result] = (
        await call(broker, INCREMENTAL_ALTER_CONFIGS, 1, incremental_body((TOPIC, "guarded", operations)))
    ).responses
    assert result.error_code == error
    assert fragment in result.error_message
    stored = await broker.metadata.topics.get_topic("guarded")
    assert stored is not None and dict(stored.configs) == {"retention.ms": "1000"}


async def test_incremental_alter_configs_resources(broker: Broker) -> None:
    body = incremental_body(
        (TOPIC, "absent", [("retention.ms", SET, "1")]),
        (TOPIC, "bad/name", [("retention.ms", SET, "1")]),
        (BROKER, "0", [("num.partitions", SET, "3")]),
        (BROKER, "1", []),
    )
    results = (await call(broker, INCREMENTAL_ALTER_CONFIGS, 0, body)).responses
    assert [r.error_code for r in results] == [
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.INVALID_REQUEST,
    ]
    assert "read-only" in results[2].error_message
    assert "expected 0" in results[3].error_message


# -- DeleteRecords ---------------------------------------------------------------


def delete_records_body(name: str, offsets: dict[int, int]) -> Any:
    Topic = DELETE_RECORDS.Request.DeleteRecordsTopic
    return DELETE_RECORDS.Request(
        topics=[
            Topic(
                name=name,
                partitions=[
                    Topic.DeleteRecordsPartition(partition_index=index, offset=offset)
                    for index, offset in offsets.items()
                ],
            )
        ],
        timeout_ms=5000,
    )


@pytest.mark.parametrize("version", versions(DELETE_RECORDS))
async def test_delete_records(broker: Broker, version: int) -> None:
    await create(broker, "trimmed", 3)
    await produce(broker, "trimmed", 0, 5)
    await produce(broker, "trimmed", 1, 4)
    body = delete_records_body("trimmed", {0: 2, 1: -1, 2: 1, 3: 0})
    [topic] = (await call(broker, DELETE_RECORDS, version, body)).topics
    assert topic.name == "trimmed"
    assert [(p.partition_index, p.low_watermark, p.error_code) for p in topic.partitions] == [
        (0, 2, ErrorCode.NONE),
        (1, 4, ErrorCode.NONE),
        (2, -1, ErrorCode.OFFSET_OUT_OF_RANGE),  # above the high watermark 0
        (3, -1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    stored = await broker.metadata.topics.get_topic("trimmed")
    assert stored is not None
    assert (
        await broker.log.state(stored.topic_id, 0) == (await broker.metadata.log.partition_states(stored.topic_id))[0]
    )
    assert (await broker.log.state(stored.topic_id, 0)).log_start_offset == 2
    # The log start never moves back; above the high watermark and below -1 are out of range.
    body = delete_records_body("trimmed", {0: 1, 1: 5, 2: -2})
    [topic] = (await call(broker, DELETE_RECORDS, version, body)).topics
    assert [(p.low_watermark, p.error_code) for p in topic.partitions] == [
        (2, ErrorCode.NONE),
        (-1, ErrorCode.OFFSET_OUT_OF_RANGE),
        (-1, ErrorCode.OFFSET_OUT_OF_RANGE),
    ]
    [topic] = (await call(broker, DELETE_RECORDS, version, delete_records_body("absent", {0: 0}))).topics
    assert [(p.low_watermark, p.error_code) for p in topic.partitions] == [(-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]


# -- DescribeCluster -------------------------------------------------------------


@pytest.mark.parametrize("version", versions(DESCRIBE_CLUSTER))
async def test_describe_cluster(broker: Broker, version: int) -> None:
    body = DESCRIBE_CLUSTER.Request(include_cluster_authorized_operations=True)
    response = await call(broker, DESCRIBE_CLUSTER, version, body)
    assert (response.error_code, response.error_message) == (ErrorCode.NONE, None)
    assert (response.cluster_id, response.controller_id) == (CLUSTER_ID, 0)
    assert [(b.broker_id, b.host, b.port, b.rack) for b in response.brokers] == [(0, "127.0.0.1", broker.port, None)]
    # No authorizer: every cluster operation, as Kafka answers (CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
    # ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE).
    assert response.cluster_authorized_operations == sum(1 << op for op in (5, 9, 10, 11, 12, 7, 8))
    if version >= 1:
        assert response.endpoint_type == 1


@pytest.mark.parametrize(
    ("endpoint_type", "error"), [(2, ErrorCode.MISMATCHED_ENDPOINT_TYPE), (7, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE)]
)
async def test_describe_cluster_other_endpoint_types(broker: Broker, endpoint_type: int, error: ErrorCode) -> None:
    body = DESCRIBE_CLUSTER.Request(include_cluster_authorized_operations=False, endpoint_type=endpoint_type)
    response = await call(broker, DESCRIBE_CLUSTER, 1, body)
    assert response.error_code == error
    assert response.error_message
    assert response.brokers == []


# -- OffsetForLeaderEpoch --------------------------------------------------------


def epoch_body(name: str, partitions: list[tuple[int, int, int]]) -> Any:
    Topic = OFFSET_FOR_LEADER_EPOCH.Request.OffsetForLeaderTopic
    return OFFSET_FOR_LEADER_EPOCH.Request(
        topics=[
            Topic(
                topic=name,
                partitions=[
                    Topic.OffsetForLeaderPartition(partition=index, current_leader_epoch=current, leader_epoch=epoch)
                    for index, current, epoch in partitions
                ],
            )
        ]
    )


@pytest.mark.parametrize("version", versions(OFFSET_FOR_LEADER_EPOCH))
async def test_offset_for_leader_epoch(broker: Broker, version: int) -> None:
    await create(broker, "epochs", 2)
    await produce(broker, "epochs", 0, 6)
    body = epoch_body("epochs", [(0, 0, 0), (0, -1, 5), (1, 0, 0), (0, 1, 0), (0, 0, -1), (2, 0, 0)])
    [topic] = (await call(broker, OFFSET_FOR_LEADER_EPOCH, version, body)).topics
    assert topic.topic == "epochs"
    assert [(p.partition, p.error_code, p.leader_epoch, p.end_offset) for p in topic.partitions] == [
        (0, ErrorCode.NONE, 0, 6),
        (0, ErrorCode.NONE, 0, 6),
        (1, ErrorCode.NONE, 0, 0),
        (0, ErrorCode.UNKNOWN_LEADER_EPOCH, -1, -1),
        (0, ErrorCode.NONE, -1, -1),
        (2, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
    ]
    [topic] = (await call(broker, OFFSET_FOR_LEADER_EPOCH, version, epoch_body("absent", [(0, 0, 0)]))).topics
    assert [p.error_code for p in topic.partitions] == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


# -- InitProducerId --------------------------------------------------------------


def init_body(transactional_id: str | None = None, producer_id: int = -1, epoch: int = -1) -> Any:
    return INIT_PRODUCER_ID.Request(
        transactional_id=transactional_id, transaction_timeout_ms=60000, producer_id=producer_id, producer_epoch=epoch
    )


@pytest.mark.parametrize("version", versions(INIT_PRODUCER_ID))
async def test_init_producer_id_allocates(broker: Broker, version: int) -> None:
    first = await call(broker, INIT_PRODUCER_ID, version, init_body())
    second = await call(broker, INIT_PRODUCER_ID, version, init_body())
    assert (first.error_code, first.producer_epoch) == (ErrorCode.NONE, 0)
    assert (second.error_code, second.producer_epoch) == (ErrorCode.NONE, 0)
    assert 0 <= first.producer_id != second.producer_id >= 0


@pytest.mark.parametrize("version", [3, 4])
async def test_init_producer_id_bumps_epoch(broker: Broker, version: int) -> None:
    first = await call(broker, INIT_PRODUCER_ID, version, init_body())
    bumped = await call(broker, INIT_PRODUCER_ID, version, init_body(producer_id=first.producer_id, epoch=0))
    assert (bumped.error_code, bumped.producer_id, bumped.producer_epoch) == (ErrorCode.NONE, first.producer_id, 1)
    exhausted = await call(broker, INIT_PRODUCER_ID, version, init_body(producer_id=first.producer_id, epoch=32766))
    assert exhausted.error_code == ErrorCode.NONE
    assert exhausted.producer_id not in (-1, first.producer_id)
    assert exhausted.producer_epoch == 0
    half = await call(broker, INIT_PRODUCER_ID, version, init_body(producer_id=first.producer_id))
    assert (half.error_code, half.producer_id, half.producer_epoch) == (ErrorCode.INVALID_REQUEST, -1, -1)


@pytest.mark.parametrize("version", versions(INIT_PRODUCER_ID))
async def test_init_producer_id_refuses_an_empty_transactional_id(broker: Broker, version: int) -> None:
    empty = await call(broker, INIT_PRODUCER_ID, version, init_body(""))
    assert (empty.error_code, empty.producer_id, empty.producer_epoch) == (ErrorCode.INVALID_REQUEST, -1, -1)
