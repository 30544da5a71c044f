"""The transaction APIs of producers: AddPartitionsToTxn v0-5, AddOffsetsToTxn v0-4, EndTxn v0-5,
TxnOffsetCommit v0-5. The transaction coordinator (broker/transactions.py) keeps the state.

Transactions v2 (KIP-890): EndTxn v5 bumps the producer's epoch with every commit and abort and
answers the new producer id and epoch (an abort of a transaction with nothing in it bumps it too;
a retry of the request answers the same); TRANSACTION_ABORTABLE (120) is the answer of the produce
path, not of these. AddPartitionsToTxn v4+ is the brokers' form (a batch of transactions, each
adding or, verify_only, checking its partitions: INVALID_TXN_STATE for one not in the ongoing
transaction) and needs CLUSTER_ACTION on the cluster (else CLUSTER_AUTHORIZATION_FAILED, 31, for
the request), as Kafka. TxnOffsetCommit answers TRANSACTION_ABORTABLE (120) from v4 where it answered
INVALID_TXN_STATE (a group not in the ongoing transaction); v5 (transactions v2, which sends no
AddOffsetsToTxn) adds the group to the transaction itself, starting one if none is under way.

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
OffsetCommit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, ...) when it names a member (v3+): without a
member id and generation (v0-2, or v3 sent so), its offsets are taken unchecked, as Kafka takes them.

With the ACL authorizer, all four need WRITE on the transactional id (else
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 53, for the request or every partition); AddPartitionsToTxn
also WRITE on each topic (TOPIC_AUTHORIZATION_FAILED, 29, for its partitions, the others
OPERATION_NOT_ATTEMPTED, 55); AddOffsetsToTxn and TxnOffsetCommit READ on the group
(GROUP_AUTHORIZATION_FAILED, 30); TxnOffsetCommit READ on each topic (29 per partition).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

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
    AddPartitionsToTxnResult,
    NestedAddPartitionsToTxnPartitionResult,
    NestedAddPartitionsToTxnTopicResult,
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

T = TypeVar("T")
EPOCH_BUMP_VERSION = 5  # EndTxn of transactions v2
IMPLICIT_GROUP_VERSION = 5  # TxnOffsetCommit of transactions v2: no AddOffsetsToTxn before it
ABORTABLE_VERSION = 4  # TxnOffsetCommit versions that know TRANSACTION_ABORTABLE
FENCED_FROM_VERSION = 2  # before it, clients know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH


def _versioned(error: ErrorCode, version: int) -> ErrorCode:
    if error is ErrorCode.PRODUCER_FENCED and version < FENCED_FROM_VERSION:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return error


BATCHED_VERSION = 4  # AddPartitionsToTxn from brokers: transactions in a batch, CLUSTER_ACTION


async def handle_add_partitions_to_txn(
    broker: Broker, request: Request[AddPartitionsToTxnRequest], connection: Connection
) -> AddPartitionsResponse:
    body = request.body
    if request.version < BATCHED_VERSION:
        errors = await _add_partitions(
            broker,
            connection,
            body.v3_and_below_transactional_id,
            body.v3_and_below_producer_id,
            body.v3_and_below_producer_epoch,
            [(t.name, t.partitions) for t in body.v3_and_below_topics],
            request.version,
        )
        topic_results = _topic_results(errors, TopicResult, AddPartitionsToTxnPartitionResult)
        return AddPartitionsResponse(results_by_topic_v3_and_below=topic_results)
    if denied := broker.authorizer.cluster_error(connection, Operation.CLUSTER_ACTION):
        return AddPartitionsResponse(error_code=denied)
    results = []
    for txn in body.transactions:
        topics = [(t.name, t.partitions) for t in txn.topics]
        if txn.verify_only:
            keys = [(name, partition) for name, partitions in topics for partition in partitions]
            errors = await broker.transactions.verify_partitions(
                txn.transactional_id, txn.producer_id, txn.producer_epoch, keys
            )
        else:
            errors = await _add_partitions(
                broker, None, txn.transactional_id, txn.producer_id, txn.producer_epoch, topics, request.version
            )
        results.append(
            AddPartitionsToTxnResult(
                transactional_id=txn.transactional_id,
                topic_results=_topic_results(
                    errors, NestedAddPartitionsToTxnTopicResult, NestedAddPartitionsToTxnPartitionResult
                ),
            )
        )
    return AddPartitionsResponse(results_by_transaction=results)


async def _add_partitions(
    broker: Broker,
    connection: Connection | None,
    transactional_id: str,
    producer_id: int,
    epoch: int,
    topics: list[tuple[str, list[int]]],
    version: int,
) -> dict[tuple[str, int], ErrorCode]:
    """One transaction's partitions added, each partition's error; `connection` None: authorized already."""
    exists = await existing_partitions(broker, topics)
    refused: dict[str, ErrorCode] = {}
    if connection is not None:
        authorizer = broker.authorizer
        denied = authorizer.transactional_id_error(connection, Operation.WRITE, transactional_id)
        refused = {name: denied or authorizer.topic_error(connection, Operation.WRITE, name) for name, _ in topics}
    if any(refused.values()):
        return {key: refused[key[0]] or ErrorCode.OPERATION_NOT_ATTEMPTED for key in exists}
    if all(exists.values()):
        error = await broker.transactions.add_partitions(transactional_id, producer_id, epoch, list(exists))
        return dict.fromkeys(exists, _versioned(error, version))
    return {
        key: ErrorCode.OPERATION_NOT_ATTEMPTED if known else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        for key, known in exists.items()
    }


def _topic_results(
    errors: dict[tuple[str, int], ErrorCode], topic_class: Callable[..., T], partition_class: Callable[..., object]
) -> list[T]:
    """The answer by topic; v4+ answers nest the same structs one level deeper (other classes)."""
    return [
        topic_class(
            name=topic,
            results_by_partition=[
                partition_class(partition_index=partition, partition_error_code=error)
                for partition, error in partitions
            ],
        )
        for topic, partitions in by_topic(errors.items()).items()
    ]


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
    if request.version >= EPOCH_BUMP_VERSION:
        error, producer_id, epoch = await broker.transactions.end_transaction_v2(
            body.transactional_id, body.producer_id, body.producer_epoch, body.committed
        )
        return EndTxnResponse(error_code=error, producer_id=producer_id, producer_epoch=epoch)
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
        error = broker.coordinator.admit_transactional_commit(
            body.group_id, body.generation_id, body.member_id, body.group_instance_id
        )
        if error is None:
            error = await broker.transactions.commit_offsets(
                body.transactional_id,
                body.group_id,
                body.producer_id,
                body.producer_epoch,
                commit.offsets(),
                add_group=request.version >= IMPLICIT_GROUP_VERSION,
            )
            if error is ErrorCode.INVALID_TXN_STATE and request.version >= ABORTABLE_VERSION:
                error = ErrorCode.TRANSACTION_ABORTABLE
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
