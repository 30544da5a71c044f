"""ApiVersions v0-4: the APIs and versions this broker serves, from the protocol registry.

From v3 it also names the features the broker supports and has finalized: `transaction.version`
at level 2, which turns clients that know it (the Java client 4.x) to transactions v2 (KIP-890
part 2: a produce adds its partition to the transaction, each EndTxn bumps the epoch). As Kafka
(KAFKA-17492), a v3 answer leaves the feature out of supported_features, since its lowest level
is 0, which older clients fail to read; the finalized level is given at every version from 3.

Errors: none here; a request of an unsupported version is answered by the server at v0
with UNSUPPORTED_VERSION (35) and the same list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers import advertised_versions
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    FinalizedFeatureKey,
    SupportedFeatureKey,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


def api_versions_body(error_code: int = 0) -> ApiVersionsResponse:
    return ApiVersionsResponse(
        error_code=error_code,
        api_keys=[
            ApiVersion(api_key=key, min_version=low, max_version=high) for key, low, high in advertised_versions()
        ],
    )


TRANSACTION_VERSION = "transaction.version"
TRANSACTIONS_V2 = 2
ZERO_MIN_SINCE_VERSION = 4  # KAFKA-17492: earlier answers omit supported features whose min_version is 0
FEATURES_EPOCH = 1  # the finalized features never change while a broker runs


async def handle_api_versions(
    broker: Broker, request: Request[ApiVersionsRequest], connection: Connection
) -> ApiVersionsResponse:
    body = api_versions_body()
    if request.version >= ZERO_MIN_SINCE_VERSION:
        body.supported_features = [
            SupportedFeatureKey(name=TRANSACTION_VERSION, min_version=0, max_version=TRANSACTIONS_V2)
        ]
    body.finalized_features_epoch = FEATURES_EPOCH
    body.finalized_features = [
        FinalizedFeatureKey(
            name=TRANSACTION_VERSION, min_version_level=TRANSACTIONS_V2, max_version_level=TRANSACTIONS_V2
        )
    ]
    return body


HANDLES = {API_VERSIONS.key: handle_api_versions}
