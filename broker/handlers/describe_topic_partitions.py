"""DescribeTopicPartitions v0: topics and their partitions, a page at a time (KIP-966).

Each partition is described as Metadata describes it: its leader, only replica and only ISR
member is its preferred broker (chosen by hashing over the live brokers), leader epoch 0, no
eligible leader replicas (null: ELR is a KRaft-only notion), no offline replicas. Topics come in
name order: the listed ones, or every topic when the list is empty. A page holds at most
response_partition_limit partitions (at least 1, at most 2000, Kafka's default
max.request.partition.size.limit); when partitions remain, next_cursor names the topic and
partition the next page starts at, and a request's cursor resumes there (topics named before the
cursor's are skipped). topic_authorized_operations is the bitfield of what the principal may do with the topic.
With the ACL authorizer, all topics means those it may DESCRIBE; a named topic it may not
DESCRIBE gets TOPIC_AUTHORIZATION_FAILED (29).

Errors: per listed topic, UNKNOWN_TOPIC_OR_PARTITION (3) when absent and
INVALID_TOPIC_EXCEPTION (17) for a bad name (with an empty topic list, only existing topics are
described). A cursor whose topic is not among the listed ones, or whose partition index is
negative, makes the whole request invalid: every listed topic gets INVALID_REQUEST (42), as Kafka
answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.handlers.metadata import topic_entry
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.broker.topics import topic_name_error
from streamhouse.protocol.apis.describe_topic_partitions import DESCRIBE_TOPIC_PARTITIONS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from streamhouse.protocol.messages.describe_topic_partitions import DescribeTopicPartitionsResponse as Response
from streamhouse.protocol.messages.describe_topic_partitions import (
    DescribeTopicPartitionsResponsePartition as Partition,
)
from streamhouse.protocol.messages.describe_topic_partitions import DescribeTopicPartitionsResponseTopic as Topic
from streamhouse.protocol.messages.describe_topic_partitions import ResponseCursor as Cursor

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

MAX_PARTITIONS_PER_PAGE = 2000
NO_TOPIC_ID = UUID(int=0)


async def handle_describe_topic_partitions(
    broker: Broker, request: Request[DescribeTopicPartitionsRequest], connection: Connection
) -> Response:
    body = request.body
    cursor = body.cursor
    start_topic = "" if cursor is None else cursor.topic_name
    describe_all = not body.topics
    authorizer = broker.authorizer
    if describe_all:  # the topics the principal may DESCRIBE
        names = sorted(
            topic.name
            for topic in await broker.topics.all()
            if topic.name >= start_topic and authorizer.may_describe(connection, ResourceType.TOPIC, topic.name)
        )
    else:
        names = sorted({topic.name for topic in body.topics if topic.name >= start_topic})
    if cursor is not None and (cursor.partition_index < 0 or (not describe_all and cursor.topic_name not in names)):
        return Response(
            topics=[
                Topic(error_code=ErrorCode.INVALID_REQUEST, name=topic.name, topic_id=NO_TOPIC_ID)
                for topic in body.topics
            ]
        )
    cluster = broker.cluster
    remaining = max(min(MAX_PARTITIONS_PER_PAGE, body.response_partition_limit), 1)
    topics: list[Topic] = []
    for name in names:
        if remaining == 0:
            return Response(topics=topics, next_cursor=Cursor(topic_name=name, partition_index=0))
        if refused := authorizer.topic_error(connection, Operation.DESCRIBE, name):
            topics.append(Topic(error_code=refused, name=name, topic_id=NO_TOPIC_ID))
            continue
        topic = await broker.topics.get(name)
        if topic is None:
            if not describe_all:
                error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                if topic_name_error(name) is not None:
                    error = ErrorCode.INVALID_TOPIC_EXCEPTION
                topics.append(Topic(error_code=error, name=name, topic_id=NO_TOPIC_ID))
            continue
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        end = min(topic.partitions, first + remaining)
        operations = authorizer.operations_field(connection, True, ResourceType.TOPIC, name)
        topics.append(topic_entry(cluster, topic, Topic, Partition, range(first, end), operations))
        if end < topic.partitions:
            return Response(topics=topics, next_cursor=Cursor(topic_name=name, partition_index=end))
        remaining -= max(end - first, 0)
    return Response(topics=topics, next_cursor=None)


HANDLES = {DESCRIBE_TOPIC_PARTITIONS.key: handle_describe_topic_partitions}
