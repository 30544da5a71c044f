"""InitProducerId v0-4: producer ids for idempotent producers; transactions are not supported yet.

transactional_id null: a producer id never handed out before (metadata.allocate_producer_id),
epoch 0. From v3 a producer may pass its current id and epoch (after an error it cannot
recover from otherwise, KIP-360): it gets the same id with the epoch bumped, or a new id with
epoch 0 when the epoch is exhausted (32766 and up, as Kafka reserves the last one). The store
requires a newer epoch to start again at sequence 0. transaction_timeout_ms is ignored.

Errors: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) for any non-empty transactional_id: see
_TRANSACTIONS_UNSUPPORTED; INVALID_REQUEST (42) for an empty transactional_id (as Kafka) or
when only one of producer_id and producer_epoch is -1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol.apis.init_producer_id import INIT_PRODUCER_ID
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.app import Broker
    from broker.server import Connection
    from protocol.wire import Request

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
# Kafka gives a new producer id instead of bumping from here: the last epoch (32767) is
# reserved (TransactionMetadata.isProducerEpochExhausted).
EXHAUSTED_EPOCH = 2**15 - 2

# Apache Kafka always runs a transaction coordinator, so it has no "transactions disabled"
# answer; the nearest precedent is Redpanda with enable_transactions=false, which refuses
# transactional writes with TRANSACTIONAL_ID_AUTHORIZATION_FAILED. It is also the one code
# that both the Java client (TransactionManager: fatal TransactionalIdAuthorizationException)
# and librdkafka (rd_kafka_idemp_check_error: fatal) stop on at once. COORDINATOR_NOT_AVAILABLE
# or NOT_COORDINATOR would make them look the coordinator up again and retry until
# max.block.ms; UNSUPPORTED_VERSION is fatal for Java but retried by librdkafka.
_TRANSACTIONS_UNSUPPORTED = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

Response: Any = INIT_PRODUCER_ID.Response


async def handle_init_producer_id(broker: Broker, request: Request, connection: Connection) -> Any:
    body = request.body
    if body.transactional_id == "":
        return _refused(ErrorCode.INVALID_REQUEST)  # as Kafka answers an empty transactional id
    if body.transactional_id is not None:
        return _refused(_TRANSACTIONS_UNSUPPORTED)
    producer_id, epoch = NO_PRODUCER_ID, NO_PRODUCER_EPOCH
    if request.version >= 3:
        producer_id, epoch = body.producer_id, body.producer_epoch
    if (producer_id == NO_PRODUCER_ID) != (epoch == NO_PRODUCER_EPOCH):
        return _refused(ErrorCode.INVALID_REQUEST)
    if producer_id >= 0 and 0 <= epoch < EXHAUSTED_EPOCH:
        return Response(error_code=ErrorCode.NONE, producer_id=producer_id, producer_epoch=epoch + 1)
    new_id = await broker.metadata.allocate_producer_id()
    return Response(error_code=ErrorCode.NONE, producer_id=new_id, producer_epoch=0)


def _refused(error: ErrorCode) -> Any:
    return Response(error_code=error, producer_id=NO_PRODUCER_ID, producer_epoch=NO_PRODUCER_EPOCH)


HANDLES = {INIT_PRODUCER_ID.key: handle_init_producer_id}
