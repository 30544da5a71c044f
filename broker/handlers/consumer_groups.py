"""The KIP-848 consumer group APIs, answered by broker/groups/consumer.py.

ConsumerGroupHeartbeat v0-1: a member joins with epoch 0 (v1: with a member id of its own making;
v0: the coordinator names it), heartbeats with its epoch, leaves with -1 (a static member with
-2). The answer carries the member's epoch, the heartbeat interval, and its assignment (topic ids)
when it changed, on a join and on a full request. v1 subscribes by RE2/J regular expression too.
Errors: INVALID_REQUEST (42) for an empty group id, an empty member id (v1), a first heartbeat without
rebalance timeout, subscription or with owned partitions; INVALID_REGULAR_EXPRESSION (128);
UNSUPPORTED_ASSIGNOR (112) for an assignor not in --group-consumer-assignors; UNKNOWN_MEMBER_ID (25);
FENCED_MEMBER_EPOCH (110); UNRELEASED_INSTANCE_ID (111) for an instance id an active member holds;
FENCED_INSTANCE_ID (82); GROUP_ID_NOT_FOUND (69) for a classic group with members;
NOT_COORDINATOR (16), COORDINATOR_LOAD_IN_PROGRESS (14) as the classic APIs. Each error comes with
Kafka's message.

ConsumerGroupDescribe v0-1: epochs, assignor, and each member's subscription, current and target
assignment (topic ids and names); v1 adds the member type (0: a classic member of a group being
migrated, 1: a consumer-protocol member).
GROUP_ID_NOT_FOUND (69) for an unknown group or a classic one.

With the ACL authorizer, as Kafka: ConsumerGroupHeartbeat needs READ on the group (else
GROUP_AUTHORIZATION_FAILED, 30) and DESCRIBE on every topic it subscribes to by name (else
TOPIC_AUTHORIZATION_FAILED, 29); ConsumerGroupDescribe DESCRIBE on each group (30), and a group
whose assignments name a topic the principal may not DESCRIBE gets TOPIC_AUTHORIZATION_FAILED (29);
authorized_operations is filled when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.groups.assignors import Assignment
from streamhouse.broker.groups.consumer import HeartbeatCall
from streamhouse.broker.groups.migration import CLASSIC_MEMBER_TYPE, CONSUMER_MEMBER_TYPE
from streamhouse.broker.handlers.groups import client_host
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.protocol.apis.consumer_group_describe import CONSUMER_GROUP_DESCRIBE
from streamhouse.protocol.apis.consumer_group_heartbeat import CONSUMER_GROUP_HEARTBEAT
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.consumer_group_describe import (
    Assignment as DescribedAssignment,
)
from streamhouse.protocol.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    DescribedGroup,
    Member,
    TopicPartitions,
)
from streamhouse.protocol.messages.consumer_group_heartbeat import (
    Assignment as HeartbeatAssignment,
)
from streamhouse.protocol.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    ResponseTopicPartitions,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


def heartbeat_denial(
    broker: Broker, connection: Connection, group_id: str, topic_names: list[str] | None
) -> tuple[ErrorCode, str | None] | None:
    """Kafka's checks of a group heartbeat (consumer or share): READ on the group, then DESCRIBE on
    every subscribed topic; the refusal's error code and message, or None."""
    if denied := broker.authorizer.group_error(connection, Operation.READ, group_id):
        return denied, None
    for name in topic_names or ():
        if denied := broker.authorizer.topic_error(connection, Operation.DESCRIBE, name):
            return denied, "The client is not authorized to describe every subscribed topic."
    return None


async def handle_consumer_group_heartbeat(
    broker: Broker, request: Request[ConsumerGroupHeartbeatRequest], connection: Connection
) -> ConsumerGroupHeartbeatResponse:
    body = request.body
    if denial := heartbeat_denial(broker, connection, body.group_id, body.subscribed_topic_names):
        return ConsumerGroupHeartbeatResponse(
            error_code=denial[0], error_message=denial[1], member_epoch=body.member_epoch
        )
    owned = (
        None if body.topic_partitions is None else {t.topic_id: frozenset(t.partitions) for t in body.topic_partitions}
    )
    answer = await broker.consumer_groups.heartbeat(
        HeartbeatCall(
            version=request.version,
            group_id=body.group_id,
            member_id=body.member_id,
            member_epoch=body.member_epoch,
            instance_id=body.instance_id,
            rack_id=body.rack_id,
            rebalance_timeout_ms=body.rebalance_timeout_ms,
            subscribed_topic_names=None if body.subscribed_topic_names is None else tuple(body.subscribed_topic_names),
            subscribed_topic_regex=body.subscribed_topic_regex,
            server_assignor=body.server_assignor,
            owned=owned,
            client_id=request.header.client_id or "",
            client_host=client_host(connection),
        )
    )
    return ConsumerGroupHeartbeatResponse(
        error_code=answer.error,
        error_message=answer.message,
        member_id=answer.member_id,
        member_epoch=answer.member_epoch,
        heartbeat_interval_ms=answer.heartbeat_interval_ms,
        assignment=None if answer.assignment is None else HeartbeatAssignment(_heartbeat_partitions(answer.assignment)),
    )


def _heartbeat_partitions(assignment: Assignment) -> list[ResponseTopicPartitions]:
    return [
        ResponseTopicPartitions(topic_id, sorted(partitions)) for topic_id, partitions in sorted(assignment.items())
    ]


async def handle_consumer_group_describe(
    broker: Broker, request: Request[ConsumerGroupDescribeRequest], connection: Connection
) -> ConsumerGroupDescribeResponse:
    authorizer = broker.authorizer
    described = []
    for group_id in request.body.group_ids:
        if denied := authorizer.group_error(connection, Operation.DESCRIBE, group_id):
            described.append(DescribedGroup(error_code=denied, group_id=group_id))
            continue
        error, message, group = broker.consumer_groups.describe(group_id)
        if group is None:
            described.append(DescribedGroup(error_code=error, error_message=message, group_id=group_id))
            continue
        names = {topic_id: name for name, (topic_id, _) in group.topics.items()}

        def listed(assignment: Assignment, names: dict[UUID, str] = names) -> DescribedAssignment:
            return DescribedAssignment(
                [
                    TopicPartitions(topic_id, names.get(topic_id, ""), sorted(partitions))
                    for topic_id, partitions in sorted(assignment.items())
                ]
            )

        assigned_topics = {
            names.get(topic_id, "")
            for member in group.members.values()
            for assignment in (member.assigned, group.target.get(member.member_id, {}))
            for topic_id in assignment
        }
        if any(authorizer.topic_error(connection, Operation.DESCRIBE, name) for name in assigned_topics):
            described.append(
                DescribedGroup(
                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    error_message="The described group uses topics that the client is not authorized to describe.",
                    group_id=group_id,
                )
            )
            continue
        described.append(
            DescribedGroup(
                group_id=group_id,
                group_state=group.state,
                group_epoch=group.group_epoch,
                assignment_epoch=group.assignment_epoch,
                assignor_name=group.assignor,
                members=[
                    Member(
                        member_id=member.member_id,
                        instance_id=member.instance_id,
                        rack_id=member.rack_id,
                        member_epoch=member.member_epoch,
                        client_id=member.client_id,
                        client_host=member.client_host,
                        subscribed_topic_names=list(member.subscribed_topic_names),
                        subscribed_topic_regex=member.subscribed_topic_regex,
                        assignment=listed(member.assigned),
                        target_assignment=listed(group.target.get(member.member_id, {})),
                        member_type=CONSUMER_MEMBER_TYPE if member.classic_protocols is None else CLASSIC_MEMBER_TYPE,
                    )
                    for member in group.members.values()
                ],
                authorized_operations=authorizer.operations_field(
                    connection, request.body.include_authorized_operations, ResourceType.GROUP, group_id
                ),
            )
        )
    return ConsumerGroupDescribeResponse(groups=described)


HANDLES = {
    CONSUMER_GROUP_HEARTBEAT.key: handle_consumer_group_heartbeat,
    CONSUMER_GROUP_DESCRIBE.key: handle_consumer_group_describe,
}
