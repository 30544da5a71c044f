"""ElectLeaders v0-2: no election is ever needed; every leader already is the preferred broker.

Metadata names as each partition's leader (and only replica) its preferred broker, chosen by
hashing over the live brokers, so the leader is always the preferred replica and always live.
Each listed partition of an existing topic therefore gets ELECTION_NOT_NEEDED (84), for
preferred (0) and unclean (1) elections alike, as Kafka answers a partition whose preferred
replica leads (preferred) or that has a leader (unclean). v0 carries no election type: preferred.
A null topic list asks for every partition; as Kafka does, the partitions that need no election
are left out, so each topic comes back with an empty list.

Errors: per partition, UNKNOWN_TOPIC_OR_PARTITION (3) for an absent topic or partition index.
An election type other than 0 or 1 (v1+) gets INVALID_REQUEST (42) at the top and for every
listed partition, as Kafka answers a request it cannot parse.

With the ACL authorizer, ALTER on the cluster is needed, else CLUSTER_AUTHORIZATION_FAILED (31)
for the request and every partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.elect_leaders import ELECT_LEADERS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.elect_leaders import ElectLeadersRequest, PartitionResult
from streamhouse.protocol.messages.elect_leaders import ElectLeadersResponse as Response
from streamhouse.protocol.messages.elect_leaders import ReplicaElectionResult as TopicResult

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

PREFERRED, UNCLEAN = 0, 1


async def handle_elect_leaders(
    broker: Broker, request: Request[ElectLeadersRequest], connection: Connection
) -> Response:
    body = request.body
    election_type = body.election_type if request.version >= 1 else PREFERRED
    invalid = broker.authorizer.cluster_error(connection, Operation.ALTER)
    message = "ALTER on the cluster is needed"
    if election_type not in (PREFERRED, UNCLEAN):
        invalid = ErrorCode.INVALID_REQUEST
        message = f"unknown election type {election_type}: use 0 (preferred) or 1 (unclean)"
    if invalid:
        return Response(
            error_code=invalid,
            replica_election_results=[
                TopicResult(
                    topic=wanted.topic,
                    partition_result=[
                        PartitionResult(partition_id=partition, error_code=invalid, error_message=message)
                        for partition in wanted.partitions
                    ],
                )
                for wanted in body.topic_partitions or []
            ],
        )
    if body.topic_partitions is None:
        return Response(replica_election_results=[TopicResult(topic=topic.name) for topic in await broker.topics.all()])
    results = []
    for wanted in body.topic_partitions:
        topic = await broker.topics.get(wanted.topic)
        count = 0 if topic is None else topic.partitions
        results.append(
            TopicResult(
                topic=wanted.topic,
                partition_result=[_partition_result(wanted.topic, partition, count) for partition in wanted.partitions],
            )
        )
    return Response(replica_election_results=results)


def _partition_result(topic: str, partition: int, count: int) -> PartitionResult:
    if not 0 <= partition < count:
        error, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no partition {partition} of topic {topic!r}"
    else:
        error, message = ErrorCode.ELECTION_NOT_NEEDED, "the leader is the preferred broker already"
    return PartitionResult(partition_id=partition, error_code=error, error_message=message)


HANDLES = {ELECT_LEADERS.key: handle_elect_leaders}
