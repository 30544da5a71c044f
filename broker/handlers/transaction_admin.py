"""DescribeTransactions v0 and ListTransactions v0-1: transactional ids as their coordinators see them.

DescribeTransactions answers, per transactional id, its state (Kafka's names), producer id and
epoch, timeout, the start time of its transaction (-1 without one) and the partitions in it.
ListTransactions lists the ids this broker coordinates (clients ask every broker), filtered by
state, producer id and (v1) by running at least duration_filter ms (only transactions that began).

Errors: DescribeTransactions per id: NOT_COORDINATOR (16) for an id another broker coordinates,
TRANSACTIONAL_ID_NOT_FOUND (105) for an unknown one; both: COORDINATOR_NOT_AVAILABLE (15) when
the metadata store cannot be reached. ListTransactions returns state filters that name no state
in unknown_state_filters (and lists nothing for them). With the ACL authorizer, DescribeTransactions
answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) for an id the principal may not DESCRIBE, and
ListTransactions lists only the ids it may DESCRIBE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers.group_offsets import by_topic
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.broker.transactions import STATES, now_ms
from streamhouse.metadata.base import MetadataUnavailableError
from streamhouse.protocol.apis.describe_transactions import DESCRIBE_TRANSACTIONS
from streamhouse.protocol.apis.list_transactions import LIST_TRANSACTIONS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.describe_transactions import DescribeTransactionsRequest, TopicData
from streamhouse.protocol.messages.describe_transactions import DescribeTransactionsResponse as DescribeResponse
from streamhouse.protocol.messages.describe_transactions import TransactionState as Described
from streamhouse.protocol.messages.list_transactions import ListTransactionsRequest
from streamhouse.protocol.messages.list_transactions import ListTransactionsResponse as ListResponse
from streamhouse.protocol.messages.list_transactions import TransactionState as Listed

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.handlers import Handler
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

NO_START_TIME = -1


async def handle_describe_transactions(
    broker: Broker, request: Request[DescribeTransactionsRequest], connection: Connection
) -> DescribeResponse:
    states = []
    for transactional_id in request.body.transactional_ids:
        denied = broker.authorizer.transactional_id_error(connection, Operation.DESCRIBE, transactional_id)
        error, record = (denied, None) if denied else await broker.transactions.describe(transactional_id)
        if record is None:
            states.append(
                Described(error_code=error, transactional_id=transactional_id, producer_id=-1, producer_epoch=-1)
            )
            continue
        states.append(
            Described(
                error_code=ErrorCode.NONE,
                transactional_id=transactional_id,
                transaction_state=record.state,
                transaction_timeout_ms=record.timeout_ms,
                transaction_start_time_ms=record.started_ms or NO_START_TIME,
                producer_id=record.producer_id,
                producer_epoch=record.producer_epoch,
                topics=[
                    TopicData(topic=topic, partitions=[partition for partition, _ in partitions])
                    for topic, partitions in by_topic((key, None) for key in record.partitions).items()
                ],
            )
        )
    return DescribeResponse(transaction_states=states)


async def handle_list_transactions(
    broker: Broker, request: Request[ListTransactionsRequest], connection: Connection
) -> ListResponse:
    body = request.body
    unknown = [state for state in body.state_filters if state not in STATES]
    try:
        records = await broker.transactions.coordinated()
    except MetadataUnavailableError:
        return ListResponse(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE, unknown_state_filters=unknown)
    now = now_ms()
    listed = [
        Listed(transactional_id=record.transactional_id, producer_id=record.producer_id, transaction_state=record.state)
        for record in records
        if (not body.state_filters or record.state in body.state_filters)
        and (not body.producer_id_filters or record.producer_id in body.producer_id_filters)
        and (body.duration_filter < 0 or (record.started_ms and now - record.started_ms >= body.duration_filter))
        and broker.authorizer.may_describe(connection, ResourceType.TRANSACTIONAL_ID, record.transactional_id)
    ]
    return ListResponse(error_code=ErrorCode.NONE, unknown_state_filters=unknown, transaction_states=listed)


HANDLES: dict[int, Handler] = {
    DESCRIBE_TRANSACTIONS.key: handle_describe_transactions,
    LIST_TRANSACTIONS.key: handle_list_transactions,
}
