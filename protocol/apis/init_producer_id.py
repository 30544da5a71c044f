"""InitProducerId (key 22), versions 0-5.

Our declaration of Kafka's InitProducerIdRequest/Response fields. v2 is the first flexible
version; v3 lets a producer pass its current id and epoch so it can be bumped instead of fenced;
v4 (PRODUCER_FENCED) and v5 (KIP-890 part 2: the client runs transactions v2) have v3's shape.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

INIT_PRODUCER_ID = register(
    declare(
        22,
        "InitProducerId",
        versions=(0, 5),
        flexible="2+",
        request=[
            F("transactional_id", "string", "0+", nullable="0+"),
            F("transaction_timeout_ms", "int32"),
            F("producer_id", "int64", "3+", default=-1),
            F("producer_epoch", "int16", "3+", default=-1),
        ],
        response=[
            F("throttle_time_ms", "int32", ignorable=True),
            F("error_code", "int16"),
            F("producer_id", "int64", "0+", default=-1),
            F("producer_epoch", "int16"),
        ],
    )
)
