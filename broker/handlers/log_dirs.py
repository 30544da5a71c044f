"""DescribeLogDirs v1-4 and AlterReplicaLogDirs v1-2: one logical log dir, the object store.

A broker keeps no partition data of its own: every partition lives once in the shared object
store. Each broker reports that store (its URL, as `--storage` names it; also DescribeConfigs'
log.dirs) as its one log dir, holding the partitions it is the replica of, i.e. the partitions
whose preferred broker it is (as Metadata names them). partition_size is the bytes the metadata
store indexes for the partition (its index entries' lengths summed: one query per topic; an entry
straddling the log start counts whole, as a Kafka segment does). offset_lag is 0 (the high
watermark is the log end) and is_future_key false (nothing ever moves); total_bytes and usable_bytes (v4) are -1,
"unknown", as object storage has no volume size. A null topic list describes every partition;
listed partitions that are absent or belong to another broker are left out, as Kafka leaves out
replicas a broker does not host.

AlterReplicaLogDirs to that one dir is a no-op that succeeds for each partition of this broker.
Errors, per partition: LOG_DIR_NOT_FOUND (57) for any other path; UNKNOWN_TOPIC_OR_PARTITION (3)
for an absent topic or partition; REPLICA_NOT_AVAILABLE (9) for a partition whose replica is
another broker (what Kafka answers for a partition the broker does not host).

With the ACL authorizer, DescribeLogDirs needs DESCRIBE on the cluster (else
CLUSTER_AUTHORIZATION_FAILED (31), v3+, and no results) and AlterReplicaLogDirs ALTER (31 per
partition).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.alter_replica_log_dirs import ALTER_REPLICA_LOG_DIRS
from streamhouse.protocol.apis.describe_log_dirs import DESCRIBE_LOG_DIRS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.alter_replica_log_dirs import (
    AlterReplicaLogDirPartitionResult as AlterPartitionResult,
)
from streamhouse.protocol.messages.alter_replica_log_dirs import AlterReplicaLogDirsRequest
from streamhouse.protocol.messages.alter_replica_log_dirs import AlterReplicaLogDirsResponse as AlterResponse
from streamhouse.protocol.messages.alter_replica_log_dirs import AlterReplicaLogDirTopicResult as AlterTopicResult
from streamhouse.protocol.messages.describe_log_dirs import DescribeLogDirsPartition as DirPartition
from streamhouse.protocol.messages.describe_log_dirs import DescribeLogDirsRequest
from streamhouse.protocol.messages.describe_log_dirs import DescribeLogDirsResponse as DescribeResponse
from streamhouse.protocol.messages.describe_log_dirs import DescribeLogDirsResult as DirResult
from streamhouse.protocol.messages.describe_log_dirs import DescribeLogDirsTopic as DirTopic

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_describe_log_dirs(
    broker: Broker, request: Request[DescribeLogDirsRequest], connection: Connection
) -> DescribeResponse:
    if denied := broker.authorizer.cluster_error(connection, Operation.DESCRIBE):
        return DescribeResponse(error_code=denied)  # v0-2 cannot carry it: no results, as Kafka
    cluster = broker.cluster
    me = cluster.me.broker_id
    if request.body.topics is None:
        wanted: list[tuple[str, Sequence[int]]] = [
            (topic.name, range(topic.partitions)) for topic in await broker.topics.all()
        ]
    else:
        wanted = [(entry.topic, entry.partitions) for entry in request.body.topics]
    topics = []
    for name, partitions in wanted:
        topic = await broker.topics.get(name)
        if topic is None:
            continue
        hosted = [index for index in partitions if 0 <= index < topic.partitions]
        hosted = [index for index in hosted if cluster.partition_leader(name, index) == me]
        if not hosted:
            continue
        sizes = await broker.log_index.partition_sizes(topic.topic_id)
        entries = [
            DirPartition(partition_index=index, partition_size=sizes.get(index, 0), offset_lag=0, is_future_key=False)
            for index in hosted
        ]
        topics.append(DirTopic(name=name, partitions=entries))
    result = DirResult(error_code=ErrorCode.NONE, log_dir=broker.config.storage_url, topics=topics)
    return DescribeResponse(error_code=ErrorCode.NONE, results=[result])


async def handle_alter_replica_log_dirs(
    broker: Broker, request: Request[AlterReplicaLogDirsRequest], connection: Connection
) -> AlterResponse:
    cluster = broker.cluster
    denied = broker.authorizer.cluster_error(connection, Operation.ALTER)
    results = []
    for target in request.body.dirs:
        for wanted in target.topics:
            topic = await broker.topics.get(wanted.name)
            count = 0 if topic is None else topic.partitions
            partitions = []
            for index in wanted.partitions:
                if denied:
                    error = denied
                elif target.path != broker.config.storage_url:
                    error = ErrorCode.LOG_DIR_NOT_FOUND
                elif not 0 <= index < count:
                    error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif cluster.partition_leader(wanted.name, index) != cluster.me.broker_id:
                    error = ErrorCode.REPLICA_NOT_AVAILABLE
                else:
                    error = ErrorCode.NONE
                partitions.append(AlterPartitionResult(partition_index=index, error_code=error))
            results.append(AlterTopicResult(topic_name=wanted.name, partitions=partitions))
    return AlterResponse(results=results)


HANDLES = {
    DESCRIBE_LOG_DIRS.key: handle_describe_log_dirs,
    ALTER_REPLICA_LOG_DIRS.key: handle_alter_replica_log_dirs,
}
