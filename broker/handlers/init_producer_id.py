"""InitProducerId v0-5: producer ids for idempotent and transactional producers.

transactional_id null: a producer id never handed out before (metadata.allocate_producer_id),
epoch 0. From v3 a producer may pass its current id and epoch (after an error it cannot
recover from otherwise, KIP-360): it gets the same id with the epoch bumped, or a new id with
epoch 0 when the epoch is exhausted (32766 and up, as Kafka reserves the last one). The store
requires a newer epoch to start again at sequence 0; transaction_timeout_ms is not used.

transactional_id set: the transaction coordinator (broker/transactions.py) gives the id's
producer id with its epoch bumped (a new id the first time), after completing a decided
transaction or aborting an ongoing one (which fences the previous instance).

Errors: INVALID_REQUEST (42) for an empty transactional_id (as Kafka) or when only one of
producer_id and producer_epoch is -1; with a transactional id, NOT_COORDINATOR (16) when another
broker coordinates it, INVALID_TRANSACTION_TIMEOUT (50) for a timeout of 0 or less or above
--transaction-max-timeout-ms, PRODUCER_FENCED (90; INVALID_PRODUCER_EPOCH (47) before v4) when
the id and epoch passed are not the current ones (nor those of the producer whose transaction
timed out: as Kafka, it may bump itself and carry on), CONCURRENT_TRANSACTIONS (51) while the id's
markers are being written or another broker changed its record meanwhile, and
COORDINATOR_NOT_AVAILABLE (15) when the metadata store cannot be reached. With the ACL authorizer:
TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) without WRITE on the transactional id; without one,
CLUSTER_AUTHORIZATION_FAILED (31) unless IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.init_producer_id import InitProducerIdRequest
from streamhouse.protocol.messages.init_producer_id import InitProducerIdResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1

# Before v4, clients know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (as Kafka answers them).
FENCED_FROM_VERSION = 4


async def handle_init_producer_id(
    broker: Broker, request: Request[InitProducerIdRequest], connection: Connection
) -> Response:
    body = request.body
    if body.transactional_id == "":
        return _refused(ErrorCode.INVALID_REQUEST)  # as Kafka answers an empty transactional id
    producer_id, epoch = NO_PRODUCER_ID, NO_PRODUCER_EPOCH
    if request.version >= 3:
        producer_id, epoch = body.producer_id, body.producer_epoch
    if (producer_id == NO_PRODUCER_ID) != (epoch == NO_PRODUCER_EPOCH):
        return _refused(ErrorCode.INVALID_REQUEST)
    if denied := _unauthorized(broker, connection, body.transactional_id):
        return _refused(denied)
    if body.transactional_id is not None:
        error, producer_id, epoch = await broker.transactions.init_producer_id(
            body.transactional_id, body.transaction_timeout_ms, producer_id, epoch
        )
        if error is ErrorCode.PRODUCER_FENCED and request.version < FENCED_FROM_VERSION:
            error = ErrorCode.INVALID_PRODUCER_EPOCH
        return Response(error_code=error, producer_id=producer_id, producer_epoch=epoch)
    producer_id, epoch = await broker.transactions.next_producer(producer_id, epoch)
    return Response(error_code=ErrorCode.NONE, producer_id=producer_id, producer_epoch=epoch)


def _unauthorized(broker: Broker, connection: Connection, transactional_id: str | None) -> ErrorCode:
    """WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the cluster or WRITE on some topic."""
    authorizer = broker.authorizer
    if transactional_id is not None:
        return authorizer.transactional_id_error(connection, Operation.WRITE, transactional_id)
    if authorizer.allows_cluster(connection, Operation.IDEMPOTENT_WRITE, count=False):
        return ErrorCode.NONE
    if authorizer.allows_any(connection, Operation.WRITE, ResourceType.TOPIC):
        return ErrorCode.NONE
    return authorizer.cluster_error(connection, Operation.IDEMPOTENT_WRITE)  # refused: counted once


def _refused(error: ErrorCode) -> Response:
    return Response(error_code=error, producer_id=NO_PRODUCER_ID, producer_epoch=NO_PRODUCER_EPOCH)


HANDLES = {INIT_PRODUCER_ID.key: handle_init_producer_id}
