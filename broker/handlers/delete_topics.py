"""DeleteTopics v1-6: delete topics by name (v1-6) or by topic id (v6).

A deleted topic loses its partitions, index rows and producer state in the metadata store
at once (metadata.delete_topic); its objects are collected later by maintenance. This
broker's topic cache and partition-log state for it are dropped.

Errors, per topic (error_message from v5): UNKNOWN_TOPIC_OR_PARTITION (3) for an absent
name; UNKNOWN_TOPIC_ID (100) for an absent id; INVALID_REQUEST (42) for a name or id listed
twice, an entry with both a name and an id, or with neither; KAFKA_STORAGE_ERROR (56,
retriable) while the metadata store cannot be reached.

With the ACL authorizer, a topic needs DELETE, else TOPIC_AUTHORIZATION_FAILED (29).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.security.authorizer import Operation
from streamhouse.metadata.base import MetadataUnavailableError
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.delete_topics import DeletableTopicResult as Result
from streamhouse.protocol.messages.delete_topics import DeleteTopicsRequest
from streamhouse.protocol.messages.delete_topics import DeleteTopicsResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

NO_TOPIC_ID = UUID(int=0)


async def handle_delete_topics(
    broker: Broker, request: Request[DeleteTopicsRequest], connection: Connection
) -> Response:
    version = request.version
    body = request.body
    if version >= 6:
        wanted: list[tuple[str | None, UUID]] = [(topic.name, topic.topic_id) for topic in body.topics]
    else:
        wanted = [(name, NO_TOPIC_ID) for name in body.topic_names]
    names = Counter(name for name, _ in wanted if name is not None)
    ids = Counter(topic_id for name, topic_id in wanted if name is None and topic_id != NO_TOPIC_ID)
    results = []
    for name, topic_id in wanted:
        try:
            results.append(await _delete(broker, connection, version, name, topic_id, names, ids))
        except MetadataUnavailableError as exc:
            results.append(_result(version, name, topic_id, ErrorCode.KAFKA_STORAGE_ERROR, str(exc)))
    return Response(responses=results)


async def _delete(
    broker: Broker,
    connection: Connection,
    version: int,
    name: str | None,
    topic_id: UUID,
    names: Counter[str],
    ids: Counter[UUID],
) -> Result:
    """One topic's deletion: its error, if any, with its name and id."""
    error, message = ErrorCode.NONE, None
    if name is not None and topic_id != NO_TOPIC_ID:
        error, message = ErrorCode.INVALID_REQUEST, "give a topic name or a topic id, not both"
    elif name is None and topic_id == NO_TOPIC_ID:
        error, message = ErrorCode.INVALID_REQUEST, "neither a topic name nor a topic id was given"
    elif name is not None and names[name] > 1:
        error, message = ErrorCode.INVALID_REQUEST, f"topic {name!r} is listed more than once"
    elif name is None and ids[topic_id] > 1:
        error, message = ErrorCode.INVALID_REQUEST, f"topic id {topic_id} is listed more than once"
    elif name is None:
        found = await broker.topics.get_by_id(topic_id)
        if found is None:
            error, message = ErrorCode.UNKNOWN_TOPIC_ID, f"no topic has id {topic_id}"
        else:
            name = found.name
    if error == ErrorCode.NONE and name is not None:
        error = broker.authorizer.topic_error(connection, Operation.DELETE, name)
    if error == ErrorCode.NONE and name is not None:
        deleted = await broker.topic_admin.delete(name)
        if deleted is None:
            if topic_id != NO_TOPIC_ID:  # deleted by someone else since we looked it up
                error, message = ErrorCode.UNKNOWN_TOPIC_ID, f"no topic has id {topic_id}"
            else:
                error, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
        else:
            topic_id = deleted.topic_id
    return _result(version, name, topic_id, error, message)


def _result(version: int, name: str | None, topic_id: UUID, error: ErrorCode, message: str | None) -> Result:
    result = Result(name=name, error_code=error)
    if version >= 5:
        result.error_message = message
    if version >= 6:
        result.topic_id = topic_id
    return result


HANDLES = {DELETE_TOPICS.key: handle_delete_topics}
