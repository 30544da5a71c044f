"""The KIP-932 share group APIs, answered by broker/share/groups.py.

ShareGroupHeartbeat v1: a member joins with epoch 0 and its own member id, heartbeats with its epoch,
leaves with -1; the answer carries its epoch, the heartbeat interval and, when it changed, its
assignment (Kafka's simple share assignor: with more members than partitions, several members share
each partition).
Errors: INVALID_REQUEST (42) for an empty group or member id, a join without subscription, an epoch
below -1; UNKNOWN_MEMBER_ID (25); FENCED_MEMBER_EPOCH (110); GROUP_ID_NOT_FOUND (69) for a classic
or consumer group of that id; NOT_COORDINATOR (16), COORDINATOR_LOAD_IN_PROGRESS (14) as the other
group APIs.

ShareGroupDescribe v1: state, epochs, assignor ("simple") and members with their subscriptions and
assignments; GROUP_ID_NOT_FOUND (69) for an unknown group or one of another type.

With the ACL authorizer, as Kafka: ShareGroupHeartbeat needs READ on the group (else
GROUP_AUTHORIZATION_FAILED, 30) and DESCRIBE on each subscribed topic (else TOPIC_AUTHORIZATION_FAILED,
29); ShareGroupDescribe DESCRIBE on each group (30); authorized_operations is filled when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers.consumer_groups import heartbeat_denial
from streamhouse.broker.handlers.groups import client_host
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.broker.share.groups import ASSIGNOR_NAME, ShareHeartbeatCall
from streamhouse.protocol.apis.share_group_describe import SHARE_GROUP_DESCRIBE
from streamhouse.protocol.apis.share_group_heartbeat import SHARE_GROUP_HEARTBEAT
from streamhouse.protocol.messages.share_group_describe import (
    Assignment as DescribedAssignment,
)
from streamhouse.protocol.messages.share_group_describe import (
    DescribedGroup,
    Member,
    ShareGroupDescribeRequest,
    ShareGroupDescribeResponse,
    TopicPartitions,
)
from streamhouse.protocol.messages.share_group_heartbeat import (
    Assignment,
    ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse,
)
from streamhouse.protocol.messages.share_group_heartbeat import (
    TopicPartitions as HeartbeatTopicPartitions,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_share_group_heartbeat(
    broker: Broker, request: Request[ShareGroupHeartbeatRequest], connection: Connection
) -> ShareGroupHeartbeatResponse:
    body = request.body
    if denial := heartbeat_denial(broker, connection, body.group_id, body.subscribed_topic_names):
        return ShareGroupHeartbeatResponse(
            error_code=denial[0], error_message=denial[1], member_epoch=body.member_epoch
        )
    answer = await broker.share_groups.heartbeat(
        ShareHeartbeatCall(
            group_id=body.group_id,
            member_id=body.member_id,
            member_epoch=body.member_epoch,
            rack_id=body.rack_id,
            subscribed_topic_names=None if body.subscribed_topic_names is None else tuple(body.subscribed_topic_names),
            client_id=request.header.client_id or "",
            client_host=client_host(connection),
        )
    )
    assignment = None
    if answer.assignment is not None:
        assignment = Assignment(
            [HeartbeatTopicPartitions(topic_id, sorted(p)) for topic_id, p in sorted(answer.assignment.items())]
        )
    return ShareGroupHeartbeatResponse(
        error_code=answer.error,
        error_message=answer.message,
        member_id=answer.member_id,
        member_epoch=answer.member_epoch,
        heartbeat_interval_ms=answer.heartbeat_interval_ms,
        assignment=assignment,
    )


async def handle_share_group_describe(
    broker: Broker, request: Request[ShareGroupDescribeRequest], connection: Connection
) -> ShareGroupDescribeResponse:
    described = []
    for group_id in request.body.group_ids:
        if denied := broker.authorizer.group_error(connection, Operation.DESCRIBE, group_id):
            described.append(DescribedGroup(error_code=denied, group_id=group_id))
            continue
        error, message, group = broker.share_groups.describe(group_id)
        if group is None:
            described.append(DescribedGroup(error_code=error, error_message=message, group_id=group_id))
            continue
        names = {topic_id: name for name, (topic_id, _) in group.topics.items()}
        entry = DescribedGroup(
            group_id=group_id,
            group_state=group.state,
            group_epoch=group.group_epoch,
            assignment_epoch=group.assignment_epoch,
            assignor_name=ASSIGNOR_NAME,
            members=[
                Member(
                    member_id=member.member_id,
                    rack_id=member.rack_id,
                    member_epoch=member.member_epoch,
                    client_id=member.client_id,
                    client_host=member.client_host,
                    subscribed_topic_names=list(member.subscribed_topic_names),
                    assignment=DescribedAssignment(
                        [
                            TopicPartitions(topic_id, names.get(topic_id, ""), sorted(partitions))
                            for topic_id, partitions in sorted(member.assigned.items())
                        ]
                    ),
                )
                for member in group.members.values()
            ],
        )
        if request.body.include_authorized_operations:
            entry.authorized_operations = broker.authorizer.authorized_operations(
                connection, ResourceType.GROUP, group_id
            )
        described.append(entry)
    return ShareGroupDescribeResponse(groups=described)


HANDLES = {
    SHARE_GROUP_HEARTBEAT.key: handle_share_group_heartbeat,
    SHARE_GROUP_DESCRIBE.key: handle_share_group_describe,
}
