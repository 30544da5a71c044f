"""ApiVersions v0-3: the APIs and versions this broker serves, from the protocol registry.

Errors: none here; a request of an unsupported version is answered by the server at v0
with UNSUPPORTED_VERSION (35) and the same list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.broker.handlers import advertised_versions
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.messages.api_versions import ApiVersion, ApiVersionsRequest, ApiVersionsResponse

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


async def handle_api_versions(
    broker: Broker, request: Request[ApiVersionsRequest], connection: Connection
) -> ApiVersionsResponse:
    return api_versions_body()


HANDLES = {API_VERSIONS.key: handle_api_versions}
