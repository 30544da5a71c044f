"""OffsetForLeaderEpoch v2-4: the end offset of a leader epoch, for consumers checking for truncation.

There is one leader epoch, 0, forever (any broker appends to any partition; the metadata
store orders writes), and the log is never truncated. So any requested epoch >= 0 is
answered with epoch 0 (Kafka answers the largest epoch <= the requested one) and the high
watermark as its end offset. A requested epoch below 0 gets epoch -1 and offset -1
(undefined), as Kafka answers an epoch older than any it knows. replica_id is ignored.

Errors, per partition: UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic or partition;
UNKNOWN_LEADER_EPOCH (75) when current_leader_epoch is above 0 (clients only learn epoch 0
from our Metadata, so a larger one is newer than ours). current_leader_epoch -1 means
"not checked"; 0 matches.

With the ACL authorizer, a topic needs DESCRIBE, else TOPIC_AUTHORIZATION_FAILED (29) per partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.offset_for_leader_epoch import EpochEndOffset, OffsetForLeaderEpochRequest
from streamhouse.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochResponse as Response
from streamhouse.protocol.messages.offset_for_leader_epoch import OffsetForLeaderTopicResult as TopicResult
from streamhouse.storage.log import LEADER_EPOCH

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


async def handle_offset_for_leader_epoch(
    broker: Broker, request: Request[OffsetForLeaderEpochRequest], connection: Connection
) -> Response:
    topics = []
    for wanted_topic in request.body.topics:
        refused = broker.authorizer.topic_error(connection, Operation.DESCRIBE, wanted_topic.topic)
        topic = None if refused else await broker.topics.get(wanted_topic.topic)
        partitions = []
        for wanted in wanted_topic.partitions:
            result = EpochEndOffset(
                error_code=ErrorCode.NONE,
                partition=wanted.partition,
                leader_epoch=UNDEFINED_EPOCH,
                end_offset=UNDEFINED_OFFSET,
            )
            if topic is None or not 0 <= wanted.partition < topic.partitions:
                result.error_code = refused or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif wanted.current_leader_epoch > LEADER_EPOCH:
                result.error_code = ErrorCode.UNKNOWN_LEADER_EPOCH
            elif wanted.leader_epoch >= 0:
                state = await broker.log.state(topic.topic_id, wanted.partition)
                result.leader_epoch = LEADER_EPOCH
                result.end_offset = state.high_watermark
            partitions.append(result)
        topics.append(TopicResult(topic=wanted_topic.topic, partitions=partitions))
    return Response(topics=topics)


HANDLES = {OFFSET_FOR_LEADER_EPOCH.key: handle_offset_for_leader_epoch}
