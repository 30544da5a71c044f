"""CreateTopics v2-7: create topics with a partition count and configs, one copy of each partition.

num_partitions -1 takes the broker's default (--num-partitions); replication_factor -1 or any
positive count is accepted: storage is shared and durable (the object store keeps its own
copies), so every topic has one copy as far as clients can tell, whatever they ask for (clients
and tests written for three-broker clusters ask for 3; librdkafka's 0103_transactions does).
A manual replica assignment (num_partitions and replication_factor -1, as Kafka requires)
creates partitions 0..n-1, one per assignment, each of which must name exactly the
partition's preferred broker (ClusterView.replica_assignment_error): every partition has one
replica, placed by hashing over the live brokers. On one broker, {i: [its id]} is accepted.
validate_only checks everything and creates nothing, answering as if it had (topic id zero).
From v5 a created topic's result carries num_partitions, replication_factor 1 and every
config with its value and source (as DescribeConfigs reports them); v7 adds the topic id.

Errors, per topic, with an error_message: INVALID_REQUEST (42) for a name listed twice in
the request, or an assignment with num_partitions or replication_factor other than -1;
INVALID_TOPIC_EXCEPTION (17) for a bad name or one that collides with an existing topic's on '.'
and '_' (as Kafka: "a.b" and "a_b" cannot both exist); TOPIC_ALREADY_EXISTS (36), also for Kafka's
internal topics `__consumer_offsets` and `__transaction_state`, which always exist;
INVALID_REPLICA_ASSIGNMENT (39) for a partition assigned twice, partition indexes that are not
0..n-1, or an assignment with other than one broker, a broker that is not live, or a live
broker that is not the partition's preferred one; INVALID_REPLICATION_FACTOR (38) for 0 or
below other than -1; INVALID_PARTITIONS (37) for a count below 1 other than -1; INVALID_CONFIG
(40) for an unknown config, a bad or null value (cleanup.policy takes delete, compact or both);
KAFKA_STORAGE_ERROR (56, retriable) while the metadata store cannot be reached.

With the ACL authorizer, a topic needs CREATE on the cluster or on itself, else
TOPIC_AUTHORIZATION_FAILED (29).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.handlers.configs import topic_config_values
from streamhouse.broker.topics import config_error, topic_name_error
from streamhouse.metadata.base import MetadataUnavailableError, TopicExistsError, TopicInfo
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.create_topics import CreatableTopic, CreatableTopicConfig, CreateTopicsRequest
from streamhouse.protocol.messages.create_topics import CreatableTopicConfigs as ResultConfig
from streamhouse.protocol.messages.create_topics import CreatableTopicResult as Result
from streamhouse.protocol.messages.create_topics import CreateTopicsResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

NO_TOPIC_ID = UUID(int=0)


class _RefusedError(Exception):
    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


async def handle_create_topics(
    broker: Broker, request: Request[CreateTopicsRequest], connection: Connection
) -> Response:
    body = request.body
    counts = Counter(topic.name for topic in body.topics)
    results = []
    for wanted in body.topics:
        try:
            if counts[wanted.name] > 1:
                raise _RefusedError(ErrorCode.INVALID_REQUEST, f"topic {wanted.name!r} is listed more than once")
            if not broker.authorizer.may_create_topic(connection, wanted.name):
                raise _RefusedError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "CREATE on the cluster or topic is needed")
            topic = await _create(broker, wanted, body.validate_only)
        except _RefusedError as refused:
            results.append(Result(name=wanted.name, error_code=refused.error, error_message=refused.message))
        except MetadataUnavailableError as exc:
            results.append(Result(name=wanted.name, error_code=ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(exc)))
        else:
            results.append(_success(broker, topic, request.version))
    return Response(topics=results)


async def _create(broker: Broker, wanted: CreatableTopic, validate_only: bool) -> TopicInfo:
    name = wanted.name
    problem = topic_name_error(name)
    if problem is not None:
        raise _RefusedError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
    if await broker.topics.fresh(name) is not None:
        raise _RefusedError(ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
    other = await broker.topics.colliding(name)
    if other is not None:
        raise _RefusedError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"topic {name!r} collides with existing topic {other!r}")
    if wanted.assignments:
        partitions = _assigned_partition_count(broker, wanted)
    else:
        partitions = _partition_count(broker, wanted.num_partitions)
        _check_replication_factor(wanted.replication_factor)
    configs = _configs(wanted.configs)
    if validate_only:
        return TopicInfo(NO_TOPIC_ID, name, partitions, configs)
    try:
        return await broker.topic_admin.create(name, partitions, configs)
    except TopicExistsError:
        raise _RefusedError(ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists") from None


def _assigned_partition_count(broker: Broker, wanted: CreatableTopic) -> int:
    """The partition count of a manual assignment, once every partition's replica list is checked."""
    for field in ("num_partitions", "replication_factor"):
        if getattr(wanted, field) != -1:
            raise _RefusedError(ErrorCode.INVALID_REQUEST, f"a manual replica assignment needs {field} -1")
    indexes = Counter(assignment.partition_index for assignment in wanted.assignments)
    repeated = sorted(index for index, count in indexes.items() if count > 1)
    if repeated:
        raise _RefusedError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"partition {repeated[0]} is assigned more than once")
    if sorted(indexes) != list(range(len(indexes))):
        raise _RefusedError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT, "assigned partitions must be numbered 0, 1, ... without gaps"
        )
    cluster = broker.cluster
    for assignment in wanted.assignments:
        problem = cluster.replica_assignment_error(wanted.name, assignment.partition_index, assignment.broker_ids)
        if problem is not None:
            raise _RefusedError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, problem)
    return len(indexes)


def _partition_count(broker: Broker, requested: int) -> int:
    if requested == -1:
        return broker.config.num_partitions
    if requested < 1:
        raise _RefusedError(
            ErrorCode.INVALID_PARTITIONS,
            f"number of partitions must be at least 1, or -1 for the default, not {requested}",
        )
    return int(requested)


def _check_replication_factor(requested: int) -> None:
    if requested == -1 or requested >= 1:
        return
    message = f"replication factor must be larger than 0, or -1 to use the default value, not {requested}"
    raise _RefusedError(ErrorCode.INVALID_REPLICATION_FACTOR, message)


def _configs(entries: list[CreatableTopicConfig]) -> dict[str, str]:
    names = Counter(entry.name for entry in entries)
    repeated = sorted(name for name, count in names.items() if count > 1)
    if repeated:
        raise _RefusedError(ErrorCode.INVALID_REQUEST, f"config listed more than once: {', '.join(repeated)}")
    nulls = [entry.name for entry in entries if entry.value is None]
    if nulls:
        raise _RefusedError(ErrorCode.INVALID_CONFIG, f"null value not supported for topic configs: {', '.join(nulls)}")
    configs = {entry.name: entry.value for entry in entries if entry.value is not None}
    for name, value in configs.items():
        problem = config_error(name, value)
        if problem is not None:
            raise _RefusedError(ErrorCode.INVALID_CONFIG, problem)
    return configs


def _success(broker: Broker, topic: TopicInfo, version: int) -> Result:
    result = Result(name=topic.name, error_code=ErrorCode.NONE, error_message=None)
    if version >= 5:
        result.num_partitions = topic.partitions
        result.replication_factor = 1
        result.configs = [
            ResultConfig(
                name=value.name,
                value=value.value,
                read_only=False,
                config_source=int(value.source),
                is_sensitive=False,
            )
            for value in topic_config_values(broker, topic)
        ]
    if version >= 7:
        result.topic_id = topic.topic_id
    return result


HANDLES = {CREATE_TOPICS.key: handle_create_topics}
