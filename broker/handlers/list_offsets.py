"""ListOffsets v1-11: earliest, latest, max-timestamp and by-timestamp offsets of partitions.

timestamp -2: the log start offset; -1: the high watermark, or with isolation_level 1
(read_committed) the last stable offset (below the oldest open transaction); -3 (v7): the offset and time of
the record with the largest timestamp; >= 0: the first record whose timestamp is at least
the one asked, read from the batch the index points to. Nothing found: offset -1 and
timestamp -1, as Kafka answers. The tiered-storage queries get what Kafka answers for a topic
without tiered storage, since there is one tier here (every byte is in the object store):
-4 (v8, earliest local) the log start offset; -5 (v9, latest tiered) and -6 (v11, earliest
pending upload) offset -1. timeout_ms (v10) is not needed: no lookup waits on another tier.
Errors: UNKNOWN_TOPIC_OR_PARTITION (3).

With the ACL authorizer, a topic needs DESCRIBE, else TOPIC_AUTHORIZATION_FAILED (29) per partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.list_offsets import ListOffsetsPartitionResponse as PartitionResponse
from streamhouse.protocol.messages.list_offsets import ListOffsetsRequest
from streamhouse.protocol.messages.list_offsets import ListOffsetsResponse as Response
from streamhouse.protocol.messages.list_offsets import ListOffsetsTopicResponse as TopicResponse

if TYPE_CHECKING:
    from uuid import UUID

    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
READ_COMMITTED = 1


async def handle_list_offsets(broker: Broker, request: Request[ListOffsetsRequest], connection: Connection) -> Response:
    topics = []
    for wanted_topic in request.body.topics:
        refused = broker.authorizer.topic_error(connection, Operation.DESCRIBE, wanted_topic.name)
        topic = None if refused else await broker.topics.get(wanted_topic.name)
        partitions = []
        for wanted in wanted_topic.partitions:
            if topic is None or not 0 <= wanted.partition_index < topic.partitions:
                partitions.append(
                    PartitionResponse(
                        partition_index=wanted.partition_index,
                        error_code=refused or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    )
                )
                continue
            offset, timestamp = await _lookup(
                broker, topic.topic_id, wanted.partition_index, wanted.timestamp, request.body.isolation_level
            )
            partitions.append(
                PartitionResponse(
                    partition_index=wanted.partition_index,
                    timestamp=timestamp,
                    offset=offset,
                    leader_epoch=0 if request.version >= 4 else -1,  # not ignorable: v4+ only
                )
            )
        topics.append(TopicResponse(name=wanted_topic.name, partitions=partitions))
    return Response(topics=topics)


async def _lookup(
    broker: Broker, topic_id: UUID, partition: int, timestamp: int, isolation_level: int
) -> tuple[int, int]:
    """(offset, timestamp) for one partition and one asked timestamp."""
    state = await broker.log.state(topic_id, partition)
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return state.log_start_offset, -1
    if timestamp == LATEST and isolation_level == READ_COMMITTED:
        transactions = await broker.transaction_states.get(topic_id, partition)
        return transactions.last_stable_offset(state.high_watermark), -1
    if timestamp == LATEST:
        return state.high_watermark, -1
    if timestamp == MAX_TIMESTAMP:
        return await broker.log_index.offset_of_max_timestamp(topic_id, partition, state.log_start_offset)
    if timestamp < 0:
        return -1, -1
    return await broker.log_index.offset_at_timestamp(topic_id, partition, timestamp, state.log_start_offset)


HANDLES = {LIST_OFFSETS.key: handle_list_offsets}
