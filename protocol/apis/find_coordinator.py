"""FindCoordinator (key 10), versions 0-6.

Our declaration of Kafka's FindCoordinatorRequest/Response fields. v1 adds the key type (group or
transaction), throttle time and error message; v3 is the first flexible version; v4 looks up a batch
of coordinator keys at once and answers with one coordinator entry per key. v5 (TRANSACTION_ABORTABLE,
KIP-890) and v6 (key type 2, share groups, KIP-932) keep v4's shape.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

FIND_COORDINATOR = register(
    declare(
        10,
        "FindCoordinator",
        versions=(0, 6),
        flexible="3+",
        request=[
            F("key", "string", "0-3"),
            F("key_type", "int8", "1+", default=0),
            F("coordinator_keys", "[]string", "4+"),
        ],
        response=[
            F("throttle_time_ms", "int32", "1+", ignorable=True),
            F("error_code", "int16", "0-3"),
            F("error_message", "string", "1-3", nullable="1-3", ignorable=True),
            F("node_id", "int32", "0-3"),
            F("host", "string", "0-3"),
            F("port", "int32", "0-3"),
            F(
                "coordinators",
                "[]Coordinator",
                "4+",
                F("key", "string", "4+"),
                F("node_id", "int32", "4+"),
                F("host", "string", "4+"),
                F("port", "int32", "4+"),
                F("error_code", "int16", "4+"),
                F("error_message", "string", "4+", nullable="4+", ignorable=True),
            ),
        ],
    )
)
