"""DescribeQuorum v0-2: the cluster metadata "quorum" as StreamHouse has it, the live brokers.

StreamHouse has no KRaft quorum: cluster metadata lives in the SQL metadata store, which orders
every change, and the brokers share it as peers. The answer describes that arrangement in the
quorum's terms, for the one partition Kafka serves it on (__cluster_metadata, partition 0):
every live broker is a voter (each heartbeats into the store and serves its metadata), there
are no observers, and the leader is the controller that Metadata and DescribeCluster name, the
lowest live broker id. There is no metadata log to count in, so leader_epoch, high_watermark
and each voter's log_end_offset are 0; last fetch and caught-up times (v1+) are -1, unknown;
replica directory ids (v2) are zero. v2 lists each voter's advertised listeners in nodes.

Errors: a request for anything but exactly that one topic partition gets UNKNOWN_TOPIC_OR_PARTITION
(3) for each partition it names, and nothing else, as Kafka answers.

With the ACL authorizer, DESCRIBE on the cluster is needed, else CLUSTER_AUTHORIZATION_FAILED (31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.describe_quorum import DESCRIBE_QUORUM
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.describe_quorum import DescribeQuorumRequest, Listener, Node, ReplicaState
from streamhouse.protocol.messages.describe_quorum import DescribeQuorumResponse as Response
from streamhouse.protocol.messages.describe_quorum import ResponsePartitionData as PartitionData
from streamhouse.protocol.messages.describe_quorum import ResponseTopicData as TopicData

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

METADATA_TOPIC = "__cluster_metadata"
METADATA_PARTITION = 0
LISTENER = "PLAINTEXT"


async def handle_describe_quorum(
    broker: Broker, request: Request[DescribeQuorumRequest], connection: Connection
) -> Response:
    if denied := broker.authorizer.cluster_error(connection, Operation.DESCRIBE):
        return Response(error_code=denied)
    topics = request.body.topics
    asks_for_metadata_partition = (
        len(topics) == 1
        and topics[0].topic_name == METADATA_TOPIC
        and [partition.partition_index for partition in topics[0].partitions] == [METADATA_PARTITION]
    )
    if not asks_for_metadata_partition:
        message = f"this quorum serves only {METADATA_TOPIC} partition {METADATA_PARTITION}"
        return Response(
            error_code=ErrorCode.NONE,
            topics=[
                TopicData(
                    topic_name=topic.topic_name,
                    partitions=[
                        PartitionData(
                            partition_index=partition.partition_index,
                            error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                            error_message=message,
                        )
                        for partition in topic.partitions
                    ],
                )
                for topic in topics
            ],
        )
    cluster = broker.cluster
    partition = PartitionData(
        partition_index=METADATA_PARTITION,
        error_code=ErrorCode.NONE,
        leader_id=cluster.controller_id,
        leader_epoch=0,
        high_watermark=0,
        current_voters=[ReplicaState(replica_id=broker_id, log_end_offset=0) for broker_id in cluster.broker_ids],
        observers=[],
    )
    nodes = []
    if request.version >= 2:
        nodes = [
            Node(
                node_id=info.broker_id,
                listeners=[
                    Listener(name=name, host=host, port=port)
                    for name, host, port in info.listeners or [(LISTENER, info.host, info.port)]
                ],
            )
            for info in cluster.brokers
        ]
    return Response(
        error_code=ErrorCode.NONE, topics=[TopicData(topic_name=METADATA_TOPIC, partitions=[partition])], nodes=nodes
    )


HANDLES = {DESCRIBE_QUORUM.key: handle_describe_quorum}
