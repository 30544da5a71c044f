"""AlterPartitionReassignments v0-1 and ListPartitionReassignments v0: nothing is ever moving.

A partition has one replica, its preferred broker by hashing over the live brokers (as Metadata
names it), and its data lives once in shared storage: there is no replica to copy and nothing
ever reassigning. So ListPartitionReassignments always answers an empty list, for all topics
(null) or the listed ones (absent topics are skipped, as Kafka skips them).

AlterPartitionReassignments to the partition's current replica, [preferred broker], completes
at once: it is already in place. v1's allow_replication_factor_change is echoed back.
Errors, per partition with a message: UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic or
partition index; NO_REASSIGNMENT_IN_PROGRESS (85) for a cancellation (null replicas);
INVALID_REPLICATION_FACTOR (38) for other than one replica when v1 forbids changing the
replication factor; INVALID_REPLICA_ASSIGNMENT (39) for other than one replica, a broker that
is not live, or a live broker that is not the partition's preferred one (the placement is the
hash's, not an operator's).

With the ACL authorizer, AlterPartitionReassignments needs ALTER on the cluster and
ListPartitionReassignments DESCRIBE, else CLUSTER_AUTHORIZATION_FAILED (31) for the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.alter_partition_reassignments import ALTER_PARTITION_REASSIGNMENTS
from streamhouse.protocol.apis.list_partition_reassignments import LIST_PARTITION_REASSIGNMENTS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    ReassignablePartition,
)
from streamhouse.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsResponse as AlterResponse,
)
from streamhouse.protocol.messages.alter_partition_reassignments import (
    ReassignablePartitionResponse as PartitionResponse,
)
from streamhouse.protocol.messages.alter_partition_reassignments import ReassignableTopicResponse as TopicResponse
from streamhouse.protocol.messages.list_partition_reassignments import ListPartitionReassignmentsRequest
from streamhouse.protocol.messages.list_partition_reassignments import (
    ListPartitionReassignmentsResponse as ListResponse,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.cluster import ClusterView
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_alter_partition_reassignments(
    broker: Broker, request: Request[AlterPartitionReassignmentsRequest], connection: Connection
) -> AlterResponse:
    body = request.body
    if denied := broker.authorizer.cluster_error(connection, Operation.ALTER):
        return AlterResponse(error_code=denied, error_message="ALTER on the cluster is needed")
    allow_replication_factor_change = body.allow_replication_factor_change if request.version >= 1 else True
    cluster = broker.cluster
    responses = []
    for wanted in body.topics:
        topic = await broker.topics.get(wanted.name)
        count = 0 if topic is None else topic.partitions
        partitions = []
        for target in wanted.partitions:
            error, message = _outcome(cluster, wanted.name, count, target, allow_replication_factor_change)
            partitions.append(
                PartitionResponse(partition_index=target.partition_index, error_code=error, error_message=message)
            )
        responses.append(TopicResponse(name=wanted.name, partitions=partitions))
    return AlterResponse(
        allow_replication_factor_change=allow_replication_factor_change,
        error_code=ErrorCode.NONE,
        error_message=None,
        responses=responses,
    )


def _outcome(
    cluster: ClusterView, topic: str, count: int, target: ReassignablePartition, allow_replication_factor_change: bool
) -> tuple[ErrorCode, str | None]:
    partition = target.partition_index
    if not 0 <= partition < count:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no partition {partition} of topic {topic!r}"
    if target.replicas is None:
        return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, f"no reassignment of partition {partition} of {topic!r} to cancel"
    if not allow_replication_factor_change and len(target.replicas) != 1:
        return (
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"the replication factor of partition {partition} of {topic!r} would change from 1 to "
            f"{len(target.replicas)}, which the request does not allow",
        )
    problem = cluster.replica_assignment_error(topic, partition, target.replicas)
    if problem is not None:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, problem
    return ErrorCode.NONE, None


async def handle_list_partition_reassignments(
    broker: Broker, request: Request[ListPartitionReassignmentsRequest], connection: Connection
) -> ListResponse:
    denied = broker.authorizer.cluster_error(connection, Operation.DESCRIBE)
    return ListResponse(error_code=denied, error_message=None, topics=[])


HANDLES = {
    ALTER_PARTITION_REASSIGNMENTS.key: handle_alter_partition_reassignments,
    LIST_PARTITION_REASSIGNMENTS.key: handle_list_partition_reassignments,
}
