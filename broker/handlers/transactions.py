"""The transaction APIs of producers: AddPartitionsToTxn v0-3, AddOffsetsToTxn v0-3, EndTxn v0-3,
TxnOffsetCommit v0-3. The transaction coordinator (broker/transactions.py) keeps the state.

AddPartitionsToTxn adds partitions to the producer's transaction (starting it: Ongoing);
AddOffsetsToTxn adds a consumer group, whose offsets TxnOffsetCommit then leaves pending in the
transaction; EndTxn commits (the pending offsets become the group's committed ones) or aborts it,
answered once every partition has its marker.

Errors (AddPartitionsToTxn per partition, TxnOffsetCommit per partition, the others for the whole
request): NOT_COORDINATOR (16) when another broker coordinates the transactional id (the group,
for TxnOffsetCommit); INVALID_PRODUCER_ID_MAPPING (49) for an unknown transactional id or another
producer id; PRODUCER_FENCED (90; INVALID_PRODUCER_EPOCH (47) before v2) for another epoch
(TxnOffsetCommit: INVALID_PRODUCER_EPOCH); INVALID_TXN_STATE (48) for EndTxn without an ongoing
transaction or with the other decision than the one taken, and TxnOffsetCommit outside one or for a
group not added; CONCURRENT_TRANSACTIONS (51, retriable) while the previous EndTxn's markers are
being written or when another broker changed the record meanwhile; COORDINATOR_NOT_AVAILABLE (15)
when the metadata store cannot be reached; UNKNOWN_TOPIC_OR_PARTITION (3) for partitions that do
not exist (AddPartitionsToTxn then adds none of the request's partitions: the others get
OPERATION_NOT_ATTEMPTED (55), as Kafka answers); TxnOffsetCommit also takes the group's errors of
OffsetCommit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, ...).

With the ACL authorizer, all four need WRITE on the transactional id (else
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 53, for the request or every partition); AddPartitionsToTxn
also WRITE on each topic (TOPIC_AUTHORIZATION_FAILED, 29, for its partitions, the others
OPERATION_NOT_ATTEMPTED, 55); AddOffsetsToTxn and TxnOffsetCommit READ on the group
(GROUP_AUTHORIZATION_FAILED, 30); TxnOffsetCommit READ on each topic (29 per partition).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers.group_offsets import CommitRequest, by_topic, existing_partitions
from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.add_offsets_to_txn import ADD_OFFSETS_TO_TXN
from streamhouse.protocol.apis.add_partitions_to_txn import ADD_PARTITIONS_TO_TXN
from streamhouse.protocol.apis.end_txn import END_TXN
from streamhouse.protocol.apis.txn_offset_commit import TXN_OFFSET_COMMIT
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse
from streamhouse.protocol.messages.add_partitions_to_txn import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest,
)
from streamhouse.protocol.messages.add_partitions_to_txn import AddPartitionsToTxnResponse as AddPartitionsResponse
from streamhouse.protocol.messages.add_partitions_to_txn import AddPartitionsToTxnTopicResult as TopicResult
from streamhouse.protocol.messages.end_txn import EndTxnRequest, EndTxnResponse
from streamhouse.protocol.messages.txn_offset_commit import TxnOffsetCommitRequest, TxnOffsetCommitResponsePartition
from streamhouse.protocol.messages.txn_offset_commit import TxnOffsetCommitResponse as CommitResponse
from streamhouse.protocol.messages.txn_offset_commit import TxnOffsetCommitResponseTopic as CommitTopic

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.handlers import Handler
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

FENCED_FROM_VERSION = 2  # before it, clients know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH


def _versioned(error: ErrorCode, version: int) -> ErrorCode:
    if error is ErrorCode.PRODUCER_FENCED and version < FENCED_FROM_VERSION:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return error


async def handle_add_partitions_to_txn(
    broker: Broker, request: Request[AddPartitionsToTxnRequest], connection: Connection
) -> AddPartitionsResponse:
    body = request.body
    exists = await existing_partitions(broker, ((t.name, t.partitions) for t in body.v3_and_below_topics))
    authorizer = broker.authorizer
    denied = authorizer.transactional_id_error(connection, Operation.WRITE, body.v3_and_below_transactional_id)
    refused = {
        t.name: denied or authorizer.topic_error(connection, Operation.WRITE, t.name) for t in body.v3_and_below_topics
    }
    if any(refused.values()):
        errors = {key: refused[key[0]] or ErrorCode.OPERATION_NOT_ATTEMPTED for key in exists}
    elif all(exists.values()):
        error = await broker.transactions.add_partitions(
            body.v3_and_below_transactional_id,
            body.v3_and_below_producer_id,
            body.v3_and_below_producer_epoch,
            list(exists),
        )
        errors = dict.fromkeys(exists, _versioned(error, request.version))
    else:
        errors = {
            key: ErrorCode.OPERATION_NOT_ATTEMPTED if known else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            for key, known in exists.items()
        }
    return AddPartitionsResponse(
        results_by_topic_v3_and_below=[
            TopicResult(
                name=topic,
                results_by_partition=[
                    AddPartitionsToTxnPartitionResult(partition_index=partition, partition_error_code=error)
                    for partition, error in partitions
                ],
            )
            for topic, partitions in by_topic(errors.items()).items()
        ]
    )


async def handle_add_offsets_to_txn(
    broker: Broker, request: Request[AddOffsetsToTxnRequest], connection: Connection
) -> AddOffsetsToTxnResponse:
    body = request.body
    if denied := _refused(broker, connection, body.transactional_id, body.group_id):
        return AddOffsetsToTxnResponse(error_code=denied)
    error = await broker.transactions.add_offsets(
        body.transactional_id, body.producer_id, body.producer_epoch, body.group_id
    )
    return AddOffsetsToTxnResponse(error_code=_versioned(error, request.version))


async def handle_end_txn(broker: Broker, request: Request[EndTxnRequest], connection: Connection) -> EndTxnResponse:
    body = request.body
    if denied := broker.authorizer.transactional_id_error(connection, Operation.WRITE, body.transactional_id):
        return EndTxnResponse(error_code=denied)
    error = await broker.transactions.end_transaction(
        body.transactional_id, body.producer_id, body.producer_epoch, body.committed
    )
    return EndTxnResponse(error_code=_versioned(error, request.version))


async def handle_txn_offset_commit(
    broker: Broker, request: Request[TxnOffsetCommitRequest], connection: Connection
) -> CommitResponse:
    body = request.body
    commit = await CommitRequest.read(broker, body.topics)
    denied = _refused(broker, connection, body.transactional_id, body.group_id)
    commit.authorize(broker.authorizer, connection, denied)
    if commit.valid:
        error = broker.coordinator.admit_commit(
            body.group_id, body.generation_id, body.member_id, body.group_instance_id
        )
        if error is None:
            error = await broker.transactions.commit_offsets(
                body.transactional_id, body.group_id, body.producer_id, body.producer_epoch, commit.offsets()
            )
        commit.errors.update(dict.fromkeys(commit.valid, error))
    return CommitResponse(topics=commit.response_topics(CommitTopic, TxnOffsetCommitResponsePartition))


def _refused(broker: Broker, connection: Connection, transactional_id: str, group_id: str) -> ErrorCode:
    """WRITE on the transactional id, then READ on the group: what AddOffsetsToTxn and TxnOffsetCommit need."""
    authorizer = broker.authorizer
    denied = authorizer.transactional_id_error(connection, Operation.WRITE, transactional_id)
    return denied or authorizer.group_error(connection, Operation.READ, group_id)


HANDLES: dict[int, Handler] = {
    ADD_PARTITIONS_TO_TXN.key: handle_add_partitions_to_txn,
    ADD_OFFSETS_TO_TXN.key: handle_add_offsets_to_txn,
    END_TXN.key: handle_end_txn,
    TXN_OFFSET_COMMIT.key: handle_txn_offset_commit,
}
