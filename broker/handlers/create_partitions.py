"""CreatePartitions v0-3: grow topics to a larger partition count.

New partitions start empty (log start 0, high watermark 0). validate_only checks and
changes nothing. Replica assignments, when given, must hold one list per new partition, each
naming exactly the partition's preferred broker (ClusterView.replica_assignment_error): every
partition has one replica, placed by hashing over the live brokers, so that is the only
assignment that can be honoured. On one broker, [[its id], ...] is accepted.

Errors, per topic, with an error_message: INVALID_REQUEST (42) for a topic listed twice;
UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic (or an invalid name, which no topic has);
INVALID_PARTITIONS (37) for a count that does not grow the topic; INVALID_REPLICA_ASSIGNMENT
(39) for a number of assignments other than the number of new partitions, or an assignment
with other than one broker, a broker that is not live, or a live broker that is not the
partition's preferred one.

With the ACL authorizer, a topic needs ALTER, else TOPIC_AUTHORIZATION_FAILED (29).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.broker.topics import topic_name_error
from streamhouse.metadata.base import InvalidPartitionsError, UnknownTopicError
from streamhouse.protocol.apis.create_partitions import CREATE_PARTITIONS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.create_partitions import (
    CreatePartitionsAssignment,
    CreatePartitionsRequest,
    CreatePartitionsTopic,
)
from streamhouse.protocol.messages.create_partitions import CreatePartitionsResponse as Response
from streamhouse.protocol.messages.create_partitions import CreatePartitionsTopicResult as Result

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_create_partitions(
    broker: Broker, request: Request[CreatePartitionsRequest], connection: Connection
) -> Response:
    body = request.body
    counts = Counter(topic.name for topic in body.topics)
    results = []
    for wanted in body.topics:
        error: ErrorCode
        message: str | None
        if counts[wanted.name] > 1:
            error, message = ErrorCode.INVALID_REQUEST, f"topic {wanted.name!r} is listed more than once"
        elif refused := broker.authorizer.topic_error(connection, Operation.ALTER, wanted.name):
            error, message = refused, None
        else:
            error, message = await _grow(broker, wanted, body.validate_only)
        results.append(Result(name=wanted.name, error_code=error, error_message=message))
    return Response(results=results)


async def _grow(broker: Broker, wanted: CreatePartitionsTopic, validate_only: bool) -> tuple[ErrorCode, str | None]:
    name, count = wanted.name, wanted.count
    unknown = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
    if topic_name_error(name) is not None:
        return unknown
    topic = await broker.topics.fresh(name)
    if topic is None:
        return unknown
    if count == topic.partitions:
        return ErrorCode.INVALID_PARTITIONS, f"topic {name!r} already has {topic.partitions} partitions"
    if count < topic.partitions:
        return (
            ErrorCode.INVALID_PARTITIONS,
            f"topic {name!r} has {topic.partitions} partitions, more than the requested {count}; "
            "partitions cannot be removed",
        )
    if wanted.assignments is not None:
        problem = _assignment_error(broker, name, topic.partitions, count, wanted.assignments)
        if problem is not None:
            return ErrorCode.INVALID_REPLICA_ASSIGNMENT, problem
    if validate_only:
        return ErrorCode.NONE, None
    try:
        await broker.topic_admin.add_partitions(name, count)
    except UnknownTopicError:
        return unknown
    except InvalidPartitionsError as exc:
        return ErrorCode.INVALID_PARTITIONS, str(exc) or f"topic {name!r} already has {count} or more partitions"
    return ErrorCode.NONE, None


def _assignment_error(
    broker: Broker, name: str, current: int, count: int, assignments: list[CreatePartitionsAssignment]
) -> str | None:
    additional = count - current
    if len(assignments) != additional:
        return f"{name!r} grows by {additional} partition(s), but {len(assignments)} assignment(s) were given"
    cluster = broker.cluster
    for partition, assignment in enumerate(assignments, start=current):
        problem = cluster.replica_assignment_error(name, partition, assignment.broker_ids)
        if problem is not None:
            return problem
    return None


HANDLES = {CREATE_PARTITIONS.key: handle_create_partitions}
