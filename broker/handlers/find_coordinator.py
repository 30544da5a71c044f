"""FindCoordinator v0-6: the broker that coordinates a group or a transactional id.

Each key is placed on one of the live brokers by a stable hash (broker/cluster.py), so every
broker names the same coordinator for it; with one broker it is always this one. Key type 0
is a group (its coordinator answers the group APIs, the others NOT_COORDINATOR), key type 1 a
transactional id (its coordinator answers InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn
and EndTxn for it, the others NOT_COORDINATOR). v4 looks up a batch of keys, one answer per key;
v5 and v6 have v4's shape (v6's key type 2, share groups, is not served: INVALID_REQUEST).
The coordinator is given at its address on the listener the client connected through.

Errors: COORDINATOR_NOT_AVAILABLE (15) while the broker is stopping (clients look again, and
find it once restarted); INVALID_REQUEST (42) for any other key type; with the ACL authorizer,
GROUP_AUTHORIZATION_FAILED (30) or TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) without DESCRIBE on
the key. An error answer names node -1, host "" and port -1, as Kafka's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.cluster import group_key, transaction_key
from streamhouse.broker.security.authorizer import Operation
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.find_coordinator import Coordinator, FindCoordinatorRequest
from streamhouse.protocol.messages.find_coordinator import FindCoordinatorResponse as Response

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

GROUP_KEY, TRANSACTION_KEY = 0, 1
NO_NODE = (-1, "", -1)


async def handle_find_coordinator(
    broker: Broker, request: Request[FindCoordinatorRequest], connection: Connection
) -> Response:
    body = request.body
    error = ErrorCode.NONE
    if body.key_type not in (GROUP_KEY, TRANSACTION_KEY):
        error = ErrorCode.INVALID_REQUEST
    elif not broker.coordinator.active:
        error = ErrorCode.COORDINATOR_NOT_AVAILABLE

    def answer(key: str) -> tuple[ErrorCode, str | None, tuple[int, str, int]]:
        refused = error or _refused(broker, connection, body.key_type, key)
        message = None if refused is ErrorCode.NONE else refused.name
        return (
            refused,
            message,
            NO_NODE if refused else _coordinator(broker, body.key_type, key, connection.listener.name),
        )

    if request.version >= 4:
        return Response(
            coordinators=[
                Coordinator(key=key, node_id=node_id, host=host, port=port, error_code=refused, error_message=message)
                for key in body.coordinator_keys
                for refused, message, (node_id, host, port) in [answer(key)]
            ]
        )
    refused, message, (node_id, host, port) = answer(body.key)
    return Response(error_code=refused, error_message=message, node_id=node_id, host=host, port=port)


def _refused(broker: Broker, connection: Connection, key_type: int, key: str) -> ErrorCode:
    """DESCRIBE on the group or the transactional id, as Kafka checks."""
    if key_type == GROUP_KEY:
        return broker.authorizer.group_error(connection, Operation.DESCRIBE, key)
    return broker.authorizer.transactional_id_error(connection, Operation.DESCRIBE, key)


def _coordinator(broker: Broker, key_type: int, key: str, listener: str) -> tuple[int, str, int]:
    """The coordinator's id and its address on the client's listener."""
    found = broker.cluster.owner(group_key(key) if key_type == GROUP_KEY else transaction_key(key))
    return (found.broker_id, *found.address(listener))


HANDLES = {FIND_COORDINATOR.key: handle_find_coordinator}
