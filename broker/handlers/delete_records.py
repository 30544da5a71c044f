"""DeleteRecords v0-2: advance partitions' log start offsets.

offset -1 means the high watermark (delete everything so far). The log start never moves
back: an offset below it leaves it where it is. The answer's low_watermark is the log start
offset after the call. Records below it are no longer served; maintenance removes their
index rows and objects.

Errors, per partition: UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic or partition;
OFFSET_OUT_OF_RANGE (1) for an offset above the high watermark or below -1. Failed
partitions get low_watermark -1.

With the ACL authorizer, a topic needs DELETE, else TOPIC_AUTHORIZATION_FAILED (29) per partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.metadata.base import OffsetOutOfRangeError, TopicInfo, UnknownTopicError
from streamhouse.protocol.apis.delete_records import DELETE_RECORDS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.delete_records import DeleteRecordsPartitionResult as PartitionResult
from streamhouse.protocol.messages.delete_records import DeleteRecordsRequest
from streamhouse.protocol.messages.delete_records import DeleteRecordsResponse as Response
from streamhouse.protocol.messages.delete_records import DeleteRecordsTopicResult as TopicResult

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

HIGH_WATERMARK = -1


async def handle_delete_records(
    broker: Broker, request: Request[DeleteRecordsRequest], connection: Connection
) -> Response:
    topics = []
    for wanted_topic in request.body.topics:
        highest = max((wanted.partition_index for wanted in wanted_topic.partitions), default=0)
        topic = await _topic(broker, wanted_topic.name, highest)
        refused = broker.authorizer.topic_error(connection, Operation.DELETE, wanted_topic.name)
        partitions = []
        for wanted in wanted_topic.partitions:
            error, low_watermark = (
                (refused, -1) if refused else await _delete(broker, topic, wanted.partition_index, wanted.offset)
            )
            partitions.append(
                PartitionResult(partition_index=wanted.partition_index, low_watermark=low_watermark, error_code=error)
            )
        topics.append(TopicResult(name=wanted_topic.name, partitions=partitions))
    return Response(topics=topics)


async def _topic(broker: Broker, name: str, highest_partition: int) -> TopicInfo | None:
    """The topic from the cache, read again from the store when it lacks a partition (grown elsewhere)."""
    topic = await broker.topics.get(name)
    if topic is not None and highest_partition >= topic.partitions:
        topic = await broker.topics.fresh(name)
    return topic


async def _delete(broker: Broker, topic: TopicInfo | None, partition: int, offset: int) -> tuple[ErrorCode, int]:
    if topic is None or not 0 <= partition < topic.partitions:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1
    if offset == HIGH_WATERMARK:
        offset = (await broker.log.state(topic.topic_id, partition)).high_watermark
    elif offset < 0:
        return ErrorCode.OFFSET_OUT_OF_RANGE, -1
    try:
        state = await broker.log.set_log_start_offset(topic.topic_id, partition, offset)
    except OffsetOutOfRangeError:
        return ErrorCode.OFFSET_OUT_OF_RANGE, -1
    except UnknownTopicError:
        broker.topics.forget(topic.name)
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1
    return ErrorCode.NONE, state.log_start_offset


HANDLES = {DELETE_RECORDS.key: handle_delete_records}
