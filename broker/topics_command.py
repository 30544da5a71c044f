"""`streamhouse topics`: create, list, describe, delete topics and alter their configs over the Kafka
protocol (CreateTopics, Metadata, DescribeConfigs, DeleteTopics, IncrementalAlterConfigs), as any admin
client does, so it works against any Kafka-compatible broker; over TLS and with SASL as
`--command-config` (a client properties file, as `streamhouse acls` takes) says."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from streamhouse.broker.client import BrokerConnection, ClientError
from streamhouse.broker.security.client_config import connect, read_client_config
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.errors import ErrorCode, ProtocolError
from streamhouse.protocol.messages.create_topics import CreatableTopic, CreatableTopicConfig, CreateTopicsRequest
from streamhouse.protocol.messages.delete_topics import DeleteTopicsRequest, DeleteTopicState
from streamhouse.protocol.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from streamhouse.protocol.messages.incremental_alter_configs import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from streamhouse.protocol.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponseTopic

TOPIC_RESOURCE = 2  # DescribeConfigs / IncrementalAlterConfigs resource type of a topic
SET, DELETE = 0, 1  # IncrementalAlterConfigs operations
DEFAULT_CONFIG_SOURCE = 5  # DescribeConfigs: a value nobody set
TIMEOUT_MS = 30_000


class TopicsError(Exception):
    """A request the broker answered with an error, or a bad argument: one line for the user."""


@dataclass(frozen=True)
class PartitionView:
    partition: int
    leader: int


@dataclass(frozen=True)
class TopicView:
    name: str
    internal: bool
    partitions: tuple[PartitionView, ...]
    configs: tuple[tuple[str, str | None], ...]  # the values set on the topic, not defaults


def add_topics_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], bootstrap: str) -> None:
    topics = commands.add_parser(
        "topics",
        help="create, list, describe and delete topics, alter their configs (over the Kafka protocol)",
        description="Topics, managed through a broker over the Kafka protocol like any admin client.",
    )
    actions = topics.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a topic")
    create.add_argument("topic", help="the topic name")
    create.add_argument("--partitions", type=int, default=-1, help="partition count (-1: the broker's default)")
    create.add_argument("--config", action="append", default=[], metavar="NAME=VALUE", help="a topic config")
    listing = actions.add_parser("list", help="every topic (internal ones with --internal)")
    listing.add_argument("--internal", action="store_true", help="include __consumer_offsets and the like")
    describe = actions.add_parser("describe", help="a topic's partitions, leaders and the configs set on it")
    describe.add_argument("topic", help="the topic name")
    delete = actions.add_parser("delete", help="delete a topic and its records")
    delete.add_argument("topic", help="the topic name")
    alter = actions.add_parser("alter-config", help="set or remove configs of a topic")
    alter.add_argument("topic", help="the topic name")
    alter.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a config")
    alter.add_argument("--delete", action="append", default=[], metavar="NAME", help="back to the default")
    for action in (create, listing, describe, delete, alter):
        action.add_argument("--bootstrap", default=bootstrap, help=f"a broker's host:port (default {bootstrap})")
        action.add_argument(
            "--command-config", type=Path, help="client properties for TLS and SASL, as `streamhouse acls` takes"
        )


def topics_command(args: argparse.Namespace) -> int:
    try:
        with connect(args.bootstrap, read_client_config(args.command_config)) as connection:
            print(run_action(connection, args))
    except (ClientError, ProtocolError, TopicsError, OSError) as exc:
        print(f"streamhouse topics {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def run_action(connection: BrokerConnection, args: argparse.Namespace) -> str:
    if args.action == "create":
        create_topic(connection, args.topic, args.partitions, parse_configs(args.config))
        return f"created topic {args.topic}"
    if args.action == "list":
        return "\n".join(list_topics(connection, internal=args.internal))
    if args.action == "describe":
        return describe_text(describe_topic(connection, args.topic))
    if args.action == "delete":
        delete_topic(connection, args.topic)
        return f"deleted topic {args.topic}"
    alter_configs(connection, args.topic, parse_configs(args.set), args.delete)
    return f"altered configs of topic {args.topic}"


def parse_configs(pairs: list[str]) -> dict[str, str]:
    configs: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise TopicsError(f"config {pair!r} is not NAME=VALUE")
        configs[name] = value
    return configs


def _check(error_code: int, message: str | None, what: str) -> None:
    if error_code:
        detail = f": {message}" if message else ""
        raise TopicsError(f"{what}: {ErrorCode(error_code).name}{detail}")


def create_topic(connection: BrokerConnection, name: str, partitions: int, configs: dict[str, str]) -> None:
    topic = CreatableTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=-1,
        assignments=[],
        configs=[CreatableTopicConfig(name=key, value=value) for key, value in configs.items()],
    )
    _, answer = connection.call(CREATE_TOPICS, CreateTopicsRequest(topics=[topic], timeout_ms=TIMEOUT_MS))
    for result in answer.topics:
        _check(result.error_code, result.error_message, f"topic {name}")


def _metadata(connection: BrokerConnection, topics: list[str] | None) -> list[MetadataResponseTopic]:
    request = MetadataRequest(
        topics=None if topics is None else [MetadataRequestTopic(name=topic) for topic in topics],
        allow_auto_topic_creation=False,
    )
    _, answer = connection.call(METADATA, request)
    return list(answer.topics)


def list_topics(connection: BrokerConnection, *, internal: bool) -> list[str]:
    return sorted(t.name or "" for t in _metadata(connection, None) if internal or not t.is_internal)


def describe_topic(connection: BrokerConnection, name: str) -> TopicView:
    (topic,) = _metadata(connection, [name])
    _check(topic.error_code, None, f"topic {name}")
    request = DescribeConfigsRequest(
        resources=[DescribeConfigsResource(resource_type=TOPIC_RESOURCE, resource_name=name, configuration_keys=None)]
    )
    _, answer = connection.call(DESCRIBE_CONFIGS, request)
    (result,) = answer.results
    _check(result.error_code, result.error_message, f"configs of topic {name}")
    return TopicView(
        name=name,
        internal=topic.is_internal,
        partitions=tuple(
            PartitionView(p.partition_index, p.leader_id)
            for p in sorted(topic.partitions, key=lambda p: p.partition_index)
        ),
        configs=tuple(
            (config.name, config.value)
            for config in sorted(result.configs, key=lambda c: c.name)
            if config.config_source != DEFAULT_CONFIG_SOURCE
        ),
    )


def describe_text(view: TopicView) -> str:
    kind = ", internal" if view.internal else ""
    lines = [f"Topic {view.name} ({len(view.partitions)} partitions{kind})"]
    lines += [f"  partition {p.partition}: leader {p.leader}" for p in view.partitions]
    lines.append("Configs set on the topic:" if view.configs else "Configs: all defaults")
    lines += [f"  {name}={value}" for name, value in view.configs]
    return "\n".join(lines)


def delete_topic(connection: BrokerConnection, name: str) -> None:
    request = DeleteTopicsRequest(topics=[DeleteTopicState(name=name)], topic_names=[name], timeout_ms=TIMEOUT_MS)
    _, answer = connection.call(DELETE_TOPICS, request)
    for result in answer.responses:
        _check(result.error_code, result.error_message, f"topic {name}")


def alter_configs(connection: BrokerConnection, name: str, set_configs: dict[str, str], deleted: list[str]) -> None:
    if not set_configs and not deleted:
        raise TopicsError("nothing to alter: give --set NAME=VALUE or --delete NAME")
    configs = [AlterableConfig(name=key, config_operation=SET, value=value) for key, value in set_configs.items()]
    configs += [AlterableConfig(name=key, config_operation=DELETE, value=None) for key in deleted]
    resource = AlterConfigsResource(resource_type=TOPIC_RESOURCE, resource_name=name, configs=configs)
    _, answer = connection.call(INCREMENTAL_ALTER_CONFIGS, IncrementalAlterConfigsRequest(resources=[resource]))
    for result in answer.responses:
        _check(result.error_code, result.error_message, f"configs of topic {name}")
