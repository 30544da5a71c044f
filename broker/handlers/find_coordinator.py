"""FindCoordinator v0-4: this broker coordinates every group and every transactional id.

The metadata store holds every group's state, so this broker answers for any key: of key type
0 (group), and of key type 1 (transaction), so that transactional producers go on to
InitProducerId and get its clear refusal. v4 looks up a batch of keys, one answer per key.

Errors: COORDINATOR_NOT_AVAILABLE (15) while the broker is stopping (clients look again, and
find it once restarted); INVALID_REQUEST (42) for any other key type. An error answer names
node -1, host "" and port -1, as Kafka's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol.apis.find_coordinator import FIND_COORDINATOR
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.app import Broker
    from broker.server import Connection
    from protocol.wire import Request

GROUP_KEY, TRANSACTION_KEY = 0, 1
NO_NODE = (-1, "", -1)

Response: Any = FIND_COORDINATOR.Response


async def handle_find_coordinator(broker: Broker, request: Request, connection: Connection) -> Any:
    body = request.body
    error = ErrorCode.NONE
    if body.key_type not in (GROUP_KEY, TRANSACTION_KEY):
        error = ErrorCode.INVALID_REQUEST
    elif not broker.coordinator.active:
        error = ErrorCode.COORDINATOR_NOT_AVAILABLE
    info = broker.info
    node_id, host, port = NO_NODE if error else (info.broker_id, info.host, info.port)
    message = None if error is ErrorCode.NONE else error.name
    if request.version >= 4:
        return Response(
            coordinators=[
                Response.Coordinator(
                    key=key, node_id=node_id, host=host, port=port, error_code=error, error_message=message
                )
                for key in body.coordinator_keys
            ]
        )
    return Response(error_code=error, error_message=message, node_id=node_id, host=host, port=port)


HANDLES = {FIND_COORDINATOR.key: handle_find_coordinator}
