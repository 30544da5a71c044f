"""DescribeConfigs v1-4, AlterConfigs v0-2, IncrementalAlterConfigs v0-1: topic and broker configs.

Resources: TOPIC (2), BROKER (4) and GROUP (32): a share group's share.* configs (broker/share/configs.py),
DYNAMIC_GROUP_CONFIG (8) when set on the group, else DEFAULT_CONFIG, needing DESCRIBE_CONFIGS / ALTER_CONFIGS
on the group (else GROUP_AUTHORIZATION_FAILED, 30). A broker is named by its id, str(broker_id); "" names
the cluster-wide dynamic defaults, of which there are none (an empty list).

DescribeConfigs: for a topic, every config of TOPIC_CONFIGS with its effective value and its
config_source: DYNAMIC_TOPIC_CONFIG (1) when set on the topic, STATIC_BROKER_CONFIG (4) when
the broker's own default (a flag) differs from Kafka's, DEFAULT_CONFIG (5) otherwise. For
this broker, a read-only set of the settings it runs with (broker.id, num.partitions,
auto.create.topics.enable, message.max.bytes, socket.request.max.bytes, log.dirs, listeners,
the log.* defaults of topic configs...). `configuration_keys` filters (null or empty: all);
synonyms come when asked (v1+), most specific first, the entry itself included;
config_type (v3+) is Kafka's type of each config (BOOLEAN 1, STRING 2, INT 3, SHORT 4,
LONG 5, LIST 7); documentation (v3+) is null.

AlterConfigs replaces the whole set of configs set on a topic with the given ones (null
values are dropped, as Kafka does). IncrementalAlterConfigs applies operations to it: SET 0,
DELETE 1, APPEND 2 and SUBTRACT 3 (these two only for LIST configs, i.e. cleanup.policy, on
the effective value). Every change is checked before any is written, and the new set is
written at once (metadata.set_topic_configs). validate_only checks and writes nothing.
Broker configs cannot be altered: they come from flags and STREAMHOUSE_* variables.

Errors, per resource (with a message): INVALID_REQUEST (42) for an unsupported resource type,
a malformed or foreign broker id, any alteration of broker configs, a resource or config name
listed twice, an unknown operation; INVALID_TOPIC_EXCEPTION (17) for a bad topic name;
UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic; INVALID_CONFIG (40) for an unknown config
name, a bad value (cleanup.policy takes delete, compact or both, never an empty list), a null
value to SET, APPEND/SUBTRACT on a config that is not a list; KAFKA_STORAGE_ERROR (56,
retriable) while the metadata store cannot be reached.

With the ACL authorizer, DescribeConfigs needs DESCRIBE_CONFIGS and the alters ALTER_CONFIGS, on the
topic (else TOPIC_AUTHORIZATION_FAILED, 29) or, for a broker's configs, on the cluster (else
CLUSTER_AUTHORIZATION_FAILED, 31).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from streamhouse.broker.security.authorizer import Operation as AclOperation
from streamhouse.broker.share import configs as share_configs
from streamhouse.broker.topics import TOPIC_CONFIGS, config_error, topic_name_error
from streamhouse.metadata.base import MetadataUnavailableError, TopicInfo, UnknownTopicError, format_listeners
from streamhouse.protocol.apis.alter_configs import ALTER_CONFIGS
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.alter_configs import AlterableConfig, AlterConfigsRequest, AlterConfigsResource
from streamhouse.protocol.messages.alter_configs import AlterConfigsResourceResponse as AlterResult
from streamhouse.protocol.messages.alter_configs import AlterConfigsResponse as AlterResponse
from streamhouse.protocol.messages.describe_configs import DescribeConfigsRequest
from streamhouse.protocol.messages.describe_configs import DescribeConfigsResourceResult as DescribeEntry
from streamhouse.protocol.messages.describe_configs import DescribeConfigsResponse as DescribeResponse
from streamhouse.protocol.messages.describe_configs import DescribeConfigsResult as DescribeResult
from streamhouse.protocol.messages.describe_configs import DescribeConfigsSynonym as DescribeSynonym
from streamhouse.protocol.messages.incremental_alter_configs import AlterableConfig as IncrementalConfig
from streamhouse.protocol.messages.incremental_alter_configs import AlterConfigsResource as IncrementalResource
from streamhouse.protocol.messages.incremental_alter_configs import AlterConfigsResourceResponse as IncrementalResult
from streamhouse.protocol.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from streamhouse.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsResponse as IncrementalResponse,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

Item = TypeVar("Item", bound=Hashable)
ResourceResult = TypeVar("ResourceResult", AlterResult, IncrementalResult)


class ResourceType(enum.IntEnum):
    """Kafka's ConfigResource.Type ids."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    GROUP = 32


class ConfigSource(enum.IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigSource ids."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_GROUP_CONFIG = 8


class ConfigType(enum.IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigType ids (ConfigDef.Type)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class Operation(enum.IntEnum):
    """IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType ids)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


# Kafka's type of each topic config (LogConfig), by ConfigSpec.kind.
_CONFIG_TYPES: dict[str, ConfigType] = {
    "long": ConfigType.LONG,
    "int": ConfigType.INT,
    "double": ConfigType.DOUBLE,
    "boolean": ConfigType.BOOLEAN,
    "string": ConfigType.STRING,
    "list": ConfigType.LIST,
}

# The broker config that gives each topic config its default (Kafka's synonyms).
BROKER_SYNONYMS: dict[str, str] = {
    "cleanup.policy": "log.cleanup.policy",
    "retention.ms": "log.retention.ms",
    "retention.bytes": "log.retention.bytes",
    "max.message.bytes": "message.max.bytes",
    "message.timestamp.type": "log.message.timestamp.type",
    "segment.bytes": "log.segment.bytes",
    "segment.ms": "log.roll.ms",
    "min.insync.replicas": "min.insync.replicas",
    "compression.type": "compression.type",
    "delete.retention.ms": "log.cleaner.delete.retention.ms",
    "min.compaction.lag.ms": "log.cleaner.min.compaction.lag.ms",
    "message.timestamp.difference.max.ms": "log.message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms": "log.message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms": "log.message.timestamp.after.max.ms",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "file.delete.delay.ms": "log.segment.delete.delay.ms",
    "flush.messages": "log.flush.interval.messages",
    "flush.ms": "log.flush.interval.ms",
    "index.interval.bytes": "log.index.interval.bytes",
    "max.compaction.lag.ms": "log.cleaner.max.compaction.lag.ms",
    "min.cleanable.dirty.ratio": "log.cleaner.min.cleanable.ratio",
    "preallocate": "log.preallocate",
    "segment.index.bytes": "log.index.size.max.bytes",
    "segment.jitter.ms": "log.roll.jitter.ms",
    "local.retention.ms": "log.local.retention.ms",
    "local.retention.bytes": "log.local.retention.bytes",
    "message.downconversion.enable": "log.message.downconversion.enable",
}

BROKER_READ_ONLY_MESSAGE = (
    "broker configs are read-only here: set them with `streamhouse serve` flags or STREAMHOUSE_* "
    "environment variables and restart the broker"
)


@dataclass(frozen=True)
class Synonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True)
class ConfigValue:
    """One config of a resource as DescribeConfigs (and CreateTopics v5+) report it."""

    name: str
    value: str | None
    source: ConfigSource
    config_type: ConfigType
    read_only: bool
    synonyms: tuple[Synonym, ...]


def topic_config_type(name: str) -> ConfigType:
    return _CONFIG_TYPES[TOPIC_CONFIGS[name].kind]


def topic_config_values(broker: Broker, topic: TopicInfo) -> list[ConfigValue]:
    """Every topic config with its effective value, source and synonyms."""
    return [_topic_config_value(name, topic.configs, broker.broker_defaults) for name in TOPIC_CONFIGS]


def _topic_config_value(name: str, explicit: Mapping[str, str], broker_defaults: Mapping[str, str]) -> ConfigValue:
    default = TOPIC_CONFIGS[name].default
    broker_name = BROKER_SYNONYMS.get(name, name)
    synonyms: list[Synonym] = []
    # Same precedence as effective_config: set on the topic, else the broker's default, else Kafka's.
    if name in explicit:  # an empty value counts: an empty cleanup.policy is a policy
        synonyms.append(Synonym(name, explicit[name], ConfigSource.DYNAMIC_TOPIC_CONFIG))
    broker_value = broker_defaults.get(name)
    if broker_value and broker_value != default:
        synonyms.append(Synonym(broker_name, broker_value, ConfigSource.STATIC_BROKER_CONFIG))
    synonyms.append(Synonym(broker_name, default, ConfigSource.DEFAULT_CONFIG))
    effective = synonyms[0]
    return ConfigValue(name, effective.value, effective.source, topic_config_type(name), False, tuple(synonyms))


def broker_config_values(broker: Broker) -> list[ConfigValue]:
    """The settings this broker runs with, all read-only (they come from flags at start-up)."""
    config = broker.config
    static: list[tuple[str, str, ConfigType]] = [
        ("broker.id", str(config.broker_id), ConfigType.INT),
        ("num.partitions", str(config.num_partitions), ConfigType.INT),
        ("auto.create.topics.enable", "true" if config.auto_create_topics else "false", ConfigType.BOOLEAN),
        ("message.max.bytes", str(config.message_max_bytes), ConfigType.INT),
        ("socket.request.max.bytes", str(config.socket_request_max_bytes), ConfigType.INT),
        ("log.dirs", config.storage_url, ConfigType.STRING),  # where partitions live, as DescribeLogDirs says
        ("listeners", format_listeners(broker.bound_listeners), ConfigType.STRING),
        ("advertised.listeners", format_listeners(broker.info.listeners), ConfigType.STRING),
        (
            "listener.security.protocol.map",
            ",".join(f"{listener.name}:{listener.security_protocol}" for listener in broker.listeners),
            ConfigType.STRING,
        ),
        ("sasl.enabled.mechanisms", config.sasl_mechanisms, ConfigType.LIST),
        ("connections.max.reauth.ms", str(config.connections_max_reauth_ms), ConfigType.LONG),
        ("connections.max.idle.ms", str(config.connections_max_idle_ms), ConfigType.LONG),
        ("queued.max.requests", str(config.queued_max_requests), ConfigType.INT),
        ("super.users", config.super_users, ConfigType.STRING),
        ("allow.everyone.if.no.acl.found", str(config.allow_everyone_if_no_acl_found).lower(), ConfigType.BOOLEAN),
        ("log.cleaner.enable", "true", ConfigType.BOOLEAN),
        ("log.cleaner.backoff.ms", str(config.log_cleaner_interval_ms), ConfigType.LONG),
        (
            "log.cleaner.io.max.bytes.per.second",
            _cleaner_io_bound(config.log_cleaner_io_max_bytes_per_second),
            ConfigType.DOUBLE,
        ),
    ]
    defaults: list[tuple[str, str, ConfigType]] = [("default.replication.factor", "1", ConfigType.INT)]
    listed = {name for name, _, _ in static}
    for topic_name, broker_name in BROKER_SYNONYMS.items():
        if broker_name not in listed and topic_name in TOPIC_CONFIGS:
            listed.add(broker_name)
            defaults.append((broker_name, TOPIC_CONFIGS[topic_name].default, topic_config_type(topic_name)))
    values = []
    for entries, source in ((static, ConfigSource.STATIC_BROKER_CONFIG), (defaults, ConfigSource.DEFAULT_CONFIG)):
        for name, value, config_type in entries:
            values.append(ConfigValue(name, value, source, config_type, True, (Synonym(name, value, source),)))
    return values


def _cleaner_io_bound(bytes_per_second: int) -> str:
    """Unbounded (0 here) is Kafka's default, Double.MAX_VALUE, as Kafka writes it."""
    return str(float(bytes_per_second)) if bytes_per_second > 0 else "1.7976931348623157E308"


def broker_name_error(broker: Broker, name: str) -> str | None:
    """Why a BROKER resource name does not name this broker (or the cluster default ""), or None."""
    if name == "":
        return None
    try:
        broker_id = int(name)
    except ValueError:
        return f"broker id must be an integer, but it is: {name!r}"
    if broker_id != broker.config.broker_id:
        return f"unexpected broker id, expected {broker.config.broker_id} or empty string, but received {name}"
    return None


class _RefusedError(Exception):
    """A resource's request cannot be honoured: its error code and message."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def _unsupported_type(resource_type: int) -> _RefusedError:
    return _RefusedError(
        ErrorCode.INVALID_REQUEST, f"resource type {resource_type} is not supported: use TOPIC (2) or BROKER (4)"
    )


async def _existing_topic(broker: Broker, name: str) -> TopicInfo:
    problem = topic_name_error(name)
    if problem is not None:
        raise _RefusedError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
    topic = await broker.topics.fresh(name)
    if topic is None:
        raise _RefusedError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist")
    return topic


def _authorize(broker: Broker, connection: Connection, operation: AclOperation, resource_type: int, name: str) -> None:
    """The operation on the topic, or on the cluster for a broker's configs (Kafka's checks)."""
    authorizer = broker.authorizer
    if resource_type == ResourceType.TOPIC:
        error = authorizer.topic_error(connection, operation, name)
    elif resource_type == ResourceType.BROKER:
        error = authorizer.cluster_error(connection, operation)
    elif resource_type == ResourceType.GROUP:
        error = authorizer.group_error(connection, operation, name)
    else:
        return
    if error:
        raise _RefusedError(error, f"{operation.name} is needed")


def _check_broker_name(broker: Broker, name: str) -> None:
    problem = broker_name_error(broker, name)
    if problem is not None:
        raise _RefusedError(ErrorCode.INVALID_REQUEST, problem)


def _duplicates(items: Iterable[Item]) -> set[Item]:
    return {item for item, count in Counter(items).items() if count > 1}


# -- DescribeConfigs -------------------------------------------------------------


async def handle_describe_configs(
    broker: Broker, request: Request[DescribeConfigsRequest], connection: Connection
) -> DescribeResponse:
    body = request.body
    results = []
    for resource in body.resources:
        result = DescribeResult(
            error_code=ErrorCode.NONE,
            error_message=None,
            resource_type=resource.resource_type,
            resource_name=resource.resource_name,
        )
        try:
            _authorize(
                broker, connection, AclOperation.DESCRIBE_CONFIGS, resource.resource_type, resource.resource_name
            )
            values = await _described_values(broker, resource.resource_type, resource.resource_name)
        except _RefusedError as refused:
            result.error_code, result.error_message = refused.error, refused.message
        except MetadataUnavailableError as exc:
            result.error_code, result.error_message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
        else:
            keys = resource.configuration_keys
            if keys:
                wanted = set(keys)
                values = [value for value in values if value.name in wanted]
            result.configs = [_describe_entry(value, request.version, body.include_synonyms) for value in values]
        results.append(result)
    return DescribeResponse(results=results)


async def _described_values(broker: Broker, resource_type: int, name: str) -> list[ConfigValue]:
    if resource_type == ResourceType.TOPIC:
        return topic_config_values(broker, await _existing_topic(broker, name))
    if resource_type == ResourceType.BROKER:
        _check_broker_name(broker, name)
        # "" names the cluster-wide dynamic broker defaults: there are none.
        return broker_config_values(broker) if name else []
    if resource_type == ResourceType.GROUP:
        return await _group_config_values(broker, name)
    raise _unsupported_type(resource_type)


def _describe_entry(value: ConfigValue, version: int, include_synonyms: bool) -> DescribeEntry:
    entry = DescribeEntry(
        name=value.name,
        value=value.value,
        read_only=value.read_only,
        config_source=int(value.source),
        is_sensitive=False,
    )
    if include_synonyms:
        entry.synonyms = [
            DescribeSynonym(name=synonym.name, value=synonym.value, source=int(synonym.source))
            for synonym in value.synonyms
        ]
    if version >= 3:
        entry.config_type = int(value.config_type)
        entry.documentation = None
    return entry


# -- AlterConfigs and IncrementalAlterConfigs ------------------------------------


async def handle_alter_configs(
    broker: Broker, request: Request[AlterConfigsRequest], connection: Connection
) -> AlterResponse:
    responses = await _alter_all(broker, connection, request.body, AlterResult)
    return AlterResponse(responses=responses)


async def handle_incremental_alter_configs(
    broker: Broker, request: Request[IncrementalAlterConfigsRequest], connection: Connection
) -> IncrementalResponse:
    responses = await _alter_all(broker, connection, request.body, IncrementalResult)
    return IncrementalResponse(responses=responses)


async def _alter_all(
    broker: Broker,
    connection: Connection,
    body: AlterConfigsRequest | IncrementalAlterConfigsRequest,
    result_class: type[ResourceResult],
) -> list[ResourceResult]:
    repeated = _duplicates((resource.resource_type, resource.resource_name) for resource in body.resources)
    results = []
    for resource in body.resources:
        result = result_class(
            error_code=ErrorCode.NONE,
            error_message=None,
            resource_type=resource.resource_type,
            resource_name=resource.resource_name,
        )
        try:
            if (resource.resource_type, resource.resource_name) in repeated:
                raise _RefusedError(ErrorCode.INVALID_REQUEST, "resource listed more than once in the request")
            _authorize(broker, connection, AclOperation.ALTER_CONFIGS, resource.resource_type, resource.resource_name)
            await _alter_resource(broker, resource, body.validate_only)
        except _RefusedError as refused:
            result.error_code, result.error_message = refused.error, refused.message
        except MetadataUnavailableError as exc:
            result.error_code, result.error_message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
        results.append(result)
    return results


async def _alter_resource(
    broker: Broker, resource: AlterConfigsResource | IncrementalResource, validate_only: bool
) -> None:
    repeated = _duplicates(config.name for config in resource.configs)
    if repeated:
        raise _RefusedError(ErrorCode.INVALID_REQUEST, f"config listed more than once: {', '.join(sorted(repeated))}")
    if resource.resource_type == ResourceType.BROKER:
        _check_broker_name(broker, resource.resource_name)
        if resource.configs:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, BROKER_READ_ONLY_MESSAGE)
        return
    if resource.resource_type == ResourceType.GROUP:
        await _alter_group(broker, resource, validate_only)
        return
    if resource.resource_type != ResourceType.TOPIC:
        raise _unsupported_type(resource.resource_type)
    topic = await _existing_topic(broker, resource.resource_name)
    if isinstance(resource, IncrementalResource):
        configs = _apply_operations(topic, resource.configs)
    else:
        configs = _replacement(resource.configs)
    if validate_only:
        return
    try:
        await broker.topic_admin.set_configs(topic.name, configs)
    except UnknownTopicError:
        raise _RefusedError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {topic.name!r} does not exist") from None


def _replacement(entries: Iterable[AlterableConfig]) -> dict[str, str]:
    """AlterConfigs: the given configs become the topic's whole explicit set."""
    configs: dict[str, str] = {}
    for entry in entries:
        _check_config(entry.name, entry.value)
        if entry.value is not None:  # Kafka drops null values here
            configs[entry.name] = entry.value
    return configs


def _apply_operations(topic: TopicInfo, entries: Iterable[IncrementalConfig]) -> dict[str, str]:
    """IncrementalAlterConfigs: the topic's explicit set with each operation applied."""
    configs = dict(topic.configs)
    for entry in entries:
        name, value = entry.name, entry.value
        try:
            operation = Operation(entry.config_operation)
        except ValueError:
            raise _RefusedError(
                ErrorCode.INVALID_REQUEST,
                f"unknown config operation {entry.config_operation} for {name}: "
                "use SET 0, DELETE 1, APPEND 2 or SUBTRACT 3",
            ) from None
        _check_config(name, None)
        if operation is Operation.DELETE:
            configs.pop(name, None)
            continue
        if value is None:
            raise _RefusedError(ErrorCode.INVALID_CONFIG, f"{operation.name} of {name} needs a value, not null")
        if operation is Operation.SET:
            _check_config(name, value)
            configs[name] = value
            continue
        if topic_config_type(name) is not ConfigType.LIST:
            message = f"Can't {operation.name} to key {name} because its type is not LIST."
            raise _RefusedError(ErrorCode.INVALID_CONFIG, message)
        joined = _list_operation(operation, configs.get(name, TOPIC_CONFIGS[name].default), value)
        _check_config(name, joined)
        configs[name] = joined
    return configs


def _list_operation(operation: Operation, current: str, value: str) -> str:
    """APPEND or SUBTRACT on a LIST config's value as Kafka's controller does: the value set on the
    topic, else Kafka's default, as parts; APPEND adds each given part it lacks, SUBTRACT removes
    each given part once. The result may be empty (the config's validator decides)."""
    parts = [part for part in current.split(",") if part]
    for given in value.split(","):
        if operation is Operation.APPEND and given not in parts:
            parts.append(given)
        elif operation is Operation.SUBTRACT and given in parts:
            parts.remove(given)
    return ",".join(parts)


def _check_config(name: str, value: str | None) -> None:
    problem = config_error(name, value)
    if problem is not None:
        raise _RefusedError(ErrorCode.INVALID_CONFIG, problem)


# -- share group configs (GROUP resources) ---------------------------------------


async def _group_config_values(broker: Broker, group_id: str) -> list[ConfigValue]:
    configs = broker.share_partitions.configs
    explicit = await configs.explicit(group_id)
    return [
        ConfigValue(
            name,
            explicit.get(name, default),
            ConfigSource.DYNAMIC_GROUP_CONFIG if name in explicit else ConfigSource.DEFAULT_CONFIG,
            ConfigType.STRING if name in share_configs.STRING_CONFIGS else ConfigType.INT,
            False,
            (),
        )
        for name, default in configs.defaults.as_configs().items()
    ]


async def _alter_group(
    broker: Broker, resource: AlterConfigsResource | IncrementalResource, validate_only: bool
) -> None:
    """The share group's configs: AlterConfigs replaces them, IncrementalAlterConfigs SETs and DELETEs."""
    if not resource.resource_name:
        raise _RefusedError(ErrorCode.INVALID_REQUEST, "a GROUP resource needs a group id")
    configs = broker.share_partitions.configs
    current = {} if isinstance(resource, AlterConfigsResource) else dict(await configs.explicit(resource.resource_name))
    for entry in resource.configs:
        try:
            operation = Operation(entry.config_operation) if isinstance(entry, IncrementalConfig) else Operation.SET
        except ValueError:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, f"unknown config operation for {entry.name}") from None
        if operation in (Operation.APPEND, Operation.SUBTRACT):
            raise _RefusedError(
                ErrorCode.INVALID_CONFIG, f"cannot {operation.name} to {entry.name}: its type is not LIST"
            )
        if problem := share_configs.config_error(entry.name, entry.value if operation is Operation.SET else None):
            raise _RefusedError(ErrorCode.INVALID_CONFIG, problem)
        if operation is Operation.DELETE or entry.value is None:
            current.pop(entry.name, None)
        else:
            current[entry.name] = entry.value
    if not validate_only:
        await configs.replace(resource.resource_name, current)


HANDLES = {
    DESCRIBE_CONFIGS.key: handle_describe_configs,
    ALTER_CONFIGS.key: handle_alter_configs,
    INCREMENTAL_ALTER_CONFIGS.key: handle_incremental_alter_configs,
}
