"""The classic group membership APIs, answered by the group coordinator (broker/groups/).

JoinGroup v0-9: parked until the rebalance completes; the leader gets every member's metadata.
From v4 a first join without a group instance id gets MEMBER_ID_REQUIRED (79) with the id to
join with; v5+ static members (group instance ids) keep their place across restarts, a stale
instance gets FENCED_INSTANCE_ID (82); v0 has no rebalance timeout, so its session timeout is
used; before v7 a missing protocol name is sent as "". Errors: INVALID_SESSION_TIMEOUT (26)
outside 6000..1800000 ms, INCONSISTENT_GROUP_PROTOCOL (23) for another protocol type or no
protocol in common with the members, UNKNOWN_MEMBER_ID (25), INVALID_GROUP_ID (24) for "".

SyncGroup v0-5: the leader's assignments reach every member. ILLEGAL_GENERATION (22),
UNKNOWN_MEMBER_ID (25), REBALANCE_IN_PROGRESS (27) while the group prepares a rebalance,
INCONSISTENT_GROUP_PROTOCOL (23) when the protocol type or name (v5+, mandatory there)
differs from the group's.

Heartbeat v0-4: REBALANCE_IN_PROGRESS (27) asks the member to rejoin; UNKNOWN_MEMBER_ID (25),
ILLEGAL_GENERATION (22), FENCED_INSTANCE_ID (82).

LeaveGroup v0-5: one member before v3 (its error is the top-level one), a batch from v3
(answered per member: UNKNOWN_MEMBER_ID (25), FENCED_INSTANCE_ID (82)); a static member may be
removed by its instance id alone. The remaining members rebalance at once.

DescribeGroups v0-6: state, protocol and members; metadata and assignments only when Stable; an
unknown group and a KIP-848 consumer group are described as Dead without an error before v6, and from
v6 (KIP-1043) get GROUP_ID_NOT_FOUND (69) with Kafka's message ("not found", "is not a classic group").
ListGroups v0-5: every group, classic and consumer, filtered by state (any case) from v4 and by type
(classic, consumer) from v5.
Join, Sync, Heartbeat and Leave to a KIP-848 consumer group with members are answered from its
state (broker/groups/migration.py: online migration, its members classic members of that group); a
join to one without members makes the group classic again, its offsets kept.
DeleteGroups v0-2: Empty groups with their offsets; NON_EMPTY_GROUP
(68) while members remain, GROUP_ID_NOT_FOUND (69) for an unknown group.
Share groups (broker/share/admin.py): listed with type and protocol type "share" (Empty or Stable),
deleted with their share-partition states and configs when Empty; DescribeGroups answers
GROUP_ID_NOT_FOUND (69) for them, as for consumer groups.

Every API answers NOT_COORDINATOR (16) while the broker is stopping and for a group that another
live broker coordinates (FindCoordinator names it; clients look it up again on this error),
COORDINATOR_LOAD_IN_PROGRESS (14) before the groups are loaded (at start, or when a group moves here
because the live brokers changed) and COORDINATOR_NOT_AVAILABLE (15) for a group being deleted;
DescribeGroups and DeleteGroups answer per group. ListGroups lists the groups this broker
coordinates, and answers COORDINATOR_NOT_AVAILABLE (15) while stopping.

With the ACL authorizer, Join, Sync, Heartbeat and Leave need READ on the group, DescribeGroups
DESCRIBE and DeleteGroups DELETE (per group), else GROUP_AUTHORIZATION_FAILED (30); ListGroups
lists every group to a principal that may DESCRIBE the cluster, else the groups it may DESCRIBE.
DescribeGroups v3+ fills authorized_operations when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.groups.state import JoinRequest
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.broker.share.admin import delete_share_groups, list_share_groups
from streamhouse.protocol.apis.delete_groups import DELETE_GROUPS
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.heartbeat import HEARTBEAT
from streamhouse.protocol.apis.join_group import JOIN_GROUP
from streamhouse.protocol.apis.leave_group import LEAVE_GROUP
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.sync_group import SYNC_GROUP
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.delete_groups import DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse
from streamhouse.protocol.messages.describe_groups import (
    DescribedGroup,
    DescribedGroupMember,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
)
from streamhouse.protocol.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from streamhouse.protocol.messages.join_group import JoinGroupRequest, JoinGroupResponseMember
from streamhouse.protocol.messages.join_group import JoinGroupResponse as JoinResponse
from streamhouse.protocol.messages.leave_group import LeaveGroupRequest, MemberResponse
from streamhouse.protocol.messages.leave_group import LeaveGroupResponse as LeaveResponse
from streamhouse.protocol.messages.list_groups import ListedGroup, ListGroupsRequest, ListGroupsResponse
from streamhouse.protocol.messages.sync_group import SyncGroupRequest
from streamhouse.protocol.messages.sync_group import SyncGroupResponse as SyncResponse

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


def client_host(connection: Connection) -> str:
    """The client's address as Kafka shows it in DescribeGroups: "/127.0.0.1"."""
    return "/" + connection.peer_host


async def handle_join_group(broker: Broker, request: Request[JoinGroupRequest], connection: Connection) -> JoinResponse:
    body, version = request.body, request.version
    if denied := broker.authorizer.group_error(connection, Operation.READ, body.group_id):
        return JoinResponse(error_code=denied)
    joining = JoinRequest(
        group_id=body.group_id,
        member_id=body.member_id,
        group_instance_id=body.group_instance_id,
        client_id=request.header.client_id or "",
        client_host=client_host(connection),
        session_timeout_ms=body.session_timeout_ms,
        rebalance_timeout_ms=body.rebalance_timeout_ms if version >= 1 else body.session_timeout_ms,
        protocol_type=body.protocol_type,
        protocols=[(protocol.name, bytes(protocol.metadata)) for protocol in body.protocols],
        require_known_member_id=version >= 4 and body.group_instance_id is None,
        supports_skip_assignment=version >= 9,
    )
    classic_members = broker.consumer_groups.classic
    if classic_members.holds(body.group_id):  # a consumer group being migrated: answered from its state
        result = await classic_members.join(joining)
    else:
        broker.consumer_groups.yield_to_classic(body.group_id)
        result = await broker.coordinator.join_group(joining)
    return JoinResponse(
        error_code=result.error,
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name if version >= 7 else result.protocol_name or "",
        leader=result.leader,
        skip_assignment=result.skip_assignment,
        member_id=result.member_id,
        members=[
            JoinGroupResponseMember(
                member_id=member.member_id, group_instance_id=member.group_instance_id, metadata=member.metadata
            )
            for member in result.members
        ],
    )


async def handle_sync_group(broker: Broker, request: Request[SyncGroupRequest], connection: Connection) -> SyncResponse:
    body = request.body
    if request.version >= 5 and (body.protocol_type is None or body.protocol_name is None):
        return SyncResponse(error_code=ErrorCode.INCONSISTENT_GROUP_PROTOCOL)  # both are mandatory from v5
    if denied := broker.authorizer.group_error(connection, Operation.READ, body.group_id):
        return SyncResponse(error_code=denied)
    if broker.consumer_groups.classic.holds(body.group_id):
        result = broker.consumer_groups.classic.sync(
            body.group_id, body.generation_id, body.member_id, body.protocol_name
        )
        return SyncResponse(
            error_code=result.error,
            protocol_type=result.protocol_type,
            protocol_name=result.protocol_name,
            assignment=result.assignment,
        )
    result = await broker.coordinator.sync_group(
        body.group_id,
        body.generation_id,
        body.member_id,
        body.group_instance_id,
        body.protocol_type,
        body.protocol_name,
        {assignment.member_id: bytes(assignment.assignment) for assignment in body.assignments},
    )
    return SyncResponse(
        error_code=result.error,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )


async def handle_heartbeat(
    broker: Broker, request: Request[HeartbeatRequest], connection: Connection
) -> HeartbeatResponse:
    body = request.body
    if denied := broker.authorizer.group_error(connection, Operation.READ, body.group_id):
        return HeartbeatResponse(error_code=denied)
    if broker.consumer_groups.classic.holds(body.group_id):
        return HeartbeatResponse(
            error_code=broker.consumer_groups.classic.heartbeat(body.group_id, body.generation_id, body.member_id)
        )
    error = broker.coordinator.heartbeat(body.group_id, body.generation_id, body.member_id, body.group_instance_id)
    return HeartbeatResponse(error_code=error)


async def handle_leave_group(
    broker: Broker, request: Request[LeaveGroupRequest], connection: Connection
) -> LeaveResponse:
    body = request.body
    if denied := broker.authorizer.group_error(connection, Operation.READ, body.group_id):
        return LeaveResponse(error_code=denied)
    leave = broker.coordinator.leave_group
    if broker.consumer_groups.classic.holds(body.group_id):
        leave = broker.consumer_groups.classic.leave
    if request.version < 3:
        error, errors = leave(body.group_id, [(body.member_id, None)])
        return LeaveResponse(error_code=error or errors[0])  # one member: its error is the only one
    leaving = [(member.member_id, member.group_instance_id) for member in body.members]
    error, errors = leave(body.group_id, leaving)
    if error:
        return LeaveResponse(error_code=error)
    return LeaveResponse(
        error_code=error,
        members=[
            MemberResponse(member_id=member_id, group_instance_id=instance_id, error_code=member_error)
            for (member_id, instance_id), member_error in zip(leaving, errors, strict=True)
        ],
    )


async def handle_describe_groups(
    broker: Broker, request: Request[DescribeGroupsRequest], connection: Connection
) -> DescribeGroupsResponse:
    described = []
    authorizer = broker.authorizer
    for group_id in request.body.groups:
        if denied := authorizer.group_error(connection, Operation.DESCRIBE, group_id):
            described.append(DescribedGroup(error_code=denied, group_id=group_id))
            continue
        error, summary = broker.coordinator.describe_group(group_id)
        if group_id in broker.share_groups.groups:
            error = ErrorCode.GROUP_ID_NOT_FOUND  # Kafka: not a classic group
        message = None
        if error == ErrorCode.GROUP_ID_NOT_FOUND:  # a KIP-848 consumer group or a share group
            message = f"Group {group_id} is not a classic group."
        elif error == ErrorCode.NONE and summary.state == "Dead" and not summary.members:
            error, message = ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found."
        if message is not None and request.version < 6:
            error, message = ErrorCode.NONE, None  # before v6 (KIP-1043), described as Dead without error
        described.append(
            DescribedGroup(
                error_code=error,
                error_message=message,
                group_id=group_id,
                group_state="" if error == ErrorCode.GROUP_ID_NOT_FOUND else summary.state,
                protocol_type=summary.protocol_type,
                protocol_data=summary.protocol_name,
                members=[
                    DescribedGroupMember(
                        member_id=member.member_id,
                        group_instance_id=member.group_instance_id,
                        client_id=member.client_id,
                        client_host=member.client_host,
                        member_metadata=member.metadata,
                        member_assignment=member.assignment,
                    )
                    for member in summary.members
                ],
                authorized_operations=authorizer.operations_field(
                    connection, request.body.include_authorized_operations, ResourceType.GROUP, group_id
                ),
            )
        )
    return DescribeGroupsResponse(groups=described)


async def handle_list_groups(
    broker: Broker, request: Request[ListGroupsRequest], connection: Connection
) -> ListGroupsResponse:
    error, groups = broker.coordinator.list_groups(request.body.states_filter, request.body.types_filter)
    shared = await list_share_groups(broker.share_groups, request.body.states_filter, request.body.types_filter)
    groups = sorted([*groups, *shared], key=lambda group: group.group_id)
    authorizer = broker.authorizer
    everything = authorizer.allows_cluster(connection, Operation.DESCRIBE, count=False)
    return ListGroupsResponse(
        error_code=error,
        groups=[
            ListedGroup(
                group_id=group.group_id,
                protocol_type=group.protocol_type,
                group_state=group.state,
                group_type=group.group_type,
            )
            for group in groups
            if everything or authorizer.may_describe(connection, ResourceType.GROUP, group.group_id)
        ],
    )


async def handle_delete_groups(
    broker: Broker, request: Request[DeleteGroupsRequest], connection: Connection
) -> DeleteGroupsResponse:
    authorizer = broker.authorizer
    denied = {g: e for g in request.body.groups_names if (e := authorizer.group_error(connection, Operation.DELETE, g))}
    allowed = [g for g in request.body.groups_names if g not in denied]
    shared = await delete_share_groups(broker.share_groups, broker.share_partitions, allowed)
    results = await broker.coordinator.delete_groups([g for g in allowed if g not in shared]) | shared
    return DeleteGroupsResponse(
        results=[
            DeletableGroupResult(group_id=group_id, error_code=error) for group_id, error in (results | denied).items()
        ]
    )


HANDLES = {
    JOIN_GROUP.key: handle_join_group,
    SYNC_GROUP.key: handle_sync_group,
    HEARTBEAT.key: handle_heartbeat,
    LEAVE_GROUP.key: handle_leave_group,
    DESCRIBE_GROUPS.key: handle_describe_groups,
    LIST_GROUPS.key: handle_list_groups,
    DELETE_GROUPS.key: handle_delete_groups,
}
