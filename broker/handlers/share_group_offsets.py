"""DescribeShareGroupOffsets v0-1, AlterShareGroupOffsets v0, DeleteShareGroupOffsets v0: a share group's start offsets.

Describe: each share-partition's start offset (-1 for a partition the group has no state for), and
from v1 its lag: the records from the start offset to the high watermark not yet acknowledged or
archived. Null topics: every topic the group has state for. Alter sets start offsets (the records in
flight are forgotten); Delete forgets whole topics, whose next fetch starts them again by
share.auto.offset.reset. Both need the group to be Empty.

Errors, as Kafka: GROUP_ID_NOT_FOUND (69) for a group that is not a share group, NON_EMPTY_GROUP (68)
to alter or delete while it has members, NOT_COORDINATOR (16) / COORDINATOR_LOAD_IN_PROGRESS (14) as
the other group APIs; per topic or partition UNKNOWN_TOPIC_OR_PARTITION (3). ACLs: Describe needs
DESCRIBE on the group and on each topic, Alter READ on both, Delete DELETE on the group and READ on
the topics (else GROUP_AUTHORIZATION_FAILED, 30, or TOPIC_AUTHORIZATION_FAILED, 29).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.metadata.base import MetadataUnavailableError, TopicInfo
from streamhouse.protocol.apis.alter_share_group_offsets import ALTER_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.delete_share_group_offsets import DELETE_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.describe_share_group_offsets import DESCRIBE_SHARE_GROUP_OFFSETS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages import alter_share_group_offsets as alter
from streamhouse.protocol.messages import delete_share_group_offsets as delete
from streamhouse.protocol.messages import describe_share_group_offsets as describe

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.broker.share.partition import SharePartition
    from streamhouse.broker.share.partitions import PartitionKey
    from streamhouse.protocol.wire import Request


async def _group_error(broker: Broker, group_id: str, must_be_empty: bool) -> ErrorCode | None:
    if (error := broker.share_groups.table.status_error(group_id)) is not None:
        return error
    await broker.share_groups.load_stored()
    group = broker.share_groups.groups.get(group_id)
    if group is None:
        return ErrorCode.GROUP_ID_NOT_FOUND
    return ErrorCode.NON_EMPTY_GROUP if must_be_empty and group.members else None


async def _empty_group_error(
    broker: Broker, connection: Connection, operation: Operation, group_id: str
) -> ErrorCode | None:
    """Why the offsets of the group may not be changed: the ACL, then the group (a share group, Empty)."""
    if denied := broker.authorizer.group_error(connection, operation, group_id):
        return denied
    return await _group_error(broker, group_id, must_be_empty=True)


async def _topic(broker: Broker, connection: Connection, name: str, operation: Operation) -> TopicInfo | ErrorCode:
    if denied := broker.authorizer.topic_error(connection, operation, name):
        return denied
    topic = await broker.topics.get(name)
    return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if topic is None else topic


async def handle_describe_share_group_offsets(
    broker: Broker, request: Request[describe.DescribeShareGroupOffsetsRequest], connection: Connection
) -> describe.DescribeShareGroupOffsetsResponse:
    answers = []
    for wanted in request.body.groups:
        answer = describe.DescribeShareGroupOffsetsResponseGroup(group_id=wanted.group_id)
        answers.append(answer)
        if denied := broker.authorizer.group_error(connection, Operation.DESCRIBE, wanted.group_id):
            answer.error_code = denied
            continue
        try:
            if (error := await _group_error(broker, wanted.group_id, must_be_empty=False)) is not None:
                answer.error_code = error
                continue
            stored = await broker.share_partitions.stored(wanted.group_id)
            requested: list[tuple[str, list[int] | None]] = [
                (t.topic_name, list(t.partitions)) for t in wanted.topics or ()
            ]
            if wanted.topics is None:
                ids = {topic_id for topic_id, _ in stored}
                requested = [(t.name, None) for t in await broker.topics.all() if t.topic_id in ids]
            for name, partitions in requested:
                answer.topics.append(await _describe_topic(broker, connection, name, partitions, stored))
        except MetadataUnavailableError:
            answer.error_code = ErrorCode.COORDINATOR_NOT_AVAILABLE
    return describe.DescribeShareGroupOffsetsResponse(groups=answers)


async def _describe_topic(
    broker: Broker,
    connection: Connection,
    name: str,
    partitions: list[int] | None,
    stored: dict[PartitionKey, SharePartition],
) -> describe.DescribeShareGroupOffsetsResponseTopic:
    """One topic's answer; `partitions` None: those the group has state for."""
    topic = await _topic(broker, connection, name, Operation.DESCRIBE)
    answer = describe.DescribeShareGroupOffsetsResponseTopic(topic_name=name)
    indexes = partitions
    if indexes is None:
        indexes = sorted(p for t, p in stored if isinstance(topic, TopicInfo) and t == topic.topic_id)
    for index in indexes:
        entry = describe.DescribeShareGroupOffsetsResponsePartition(partition_index=index, start_offset=-1)
        answer.partitions.append(entry)
        if not isinstance(topic, TopicInfo):
            entry.error_code = topic
            continue
        answer.topic_id = topic.topic_id
        if not 0 <= index < topic.partitions:
            entry.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            continue
        share = stored.get((topic.topic_id, index))
        if share is None:
            continue
        high = (await broker.log.state(topic.topic_id, index)).high_watermark
        entry.start_offset, entry.lag = share.start_offset, share.lag(high)
    return answer


async def handle_alter_share_group_offsets(
    broker: Broker, request: Request[alter.AlterShareGroupOffsetsRequest], connection: Connection
) -> alter.AlterShareGroupOffsetsResponse:
    body = request.body
    response = alter.AlterShareGroupOffsetsResponse()
    try:
        if (error := await _empty_group_error(broker, connection, Operation.READ, body.group_id)) is not None:
            response.error_code = error
            return response
        for wanted in body.topics:
            topic = await _topic(broker, connection, wanted.topic_name, Operation.READ)
            answer = alter.AlterShareGroupOffsetsResponseTopic(topic_name=wanted.topic_name)
            response.responses.append(answer)
            for partition in wanted.partitions:
                entry = alter.AlterShareGroupOffsetsResponsePartition(partition_index=partition.partition_index)
                answer.partitions.append(entry)
                if not isinstance(topic, TopicInfo):
                    entry.error_code = topic
                    continue
                answer.topic_id = topic.topic_id
                if not 0 <= partition.partition_index < topic.partitions or partition.start_offset < 0:
                    entry.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    continue
                await broker.share_partitions.set_start_offset(
                    body.group_id, topic.topic_id, partition.partition_index, partition.start_offset
                )
    except MetadataUnavailableError:
        response.error_code = ErrorCode.COORDINATOR_NOT_AVAILABLE
    return response


async def handle_delete_share_group_offsets(
    broker: Broker, request: Request[delete.DeleteShareGroupOffsetsRequest], connection: Connection
) -> delete.DeleteShareGroupOffsetsResponse:
    body = request.body
    response = delete.DeleteShareGroupOffsetsResponse()
    try:
        if (error := await _empty_group_error(broker, connection, Operation.DELETE, body.group_id)) is not None:
            response.error_code = error
            return response
        for wanted in body.topics:
            topic = await _topic(broker, connection, wanted.topic_name, Operation.READ)
            answer = delete.DeleteShareGroupOffsetsResponseTopic(topic_name=wanted.topic_name)
            response.responses.append(answer)
            if not isinstance(topic, TopicInfo):
                answer.error_code = topic
                continue
            answer.topic_id = topic.topic_id
            await broker.share_partitions.forget_topic(body.group_id, topic.topic_id)
    except MetadataUnavailableError:
        response.error_code = ErrorCode.COORDINATOR_NOT_AVAILABLE
    return response


HANDLES = {
    DESCRIBE_SHARE_GROUP_OFFSETS.key: handle_describe_share_group_offsets,
    ALTER_SHARE_GROUP_OFFSETS.key: handle_alter_share_group_offsets,
    DELETE_SHARE_GROUP_OFFSETS.key: handle_delete_share_group_offsets,
}
