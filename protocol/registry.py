"""The one registry of served APIs: dispatch and the ApiVersions answer are built from it."""

from __future__ import annotations

from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.schema import Api

APIS: dict[int, ApiCodec] = {}


def register(api: Api) -> ApiCodec:
    """Add an API to the registry; a key registered twice is a bug caught at import."""
    if api.key in APIS:
        raise RuntimeError(f"API key {api.key} ({api.name}) registered twice")
    codec = ApiCodec(api)
    APIS[api.key] = codec
    return codec


def supported_versions() -> list[tuple[int, int, int]]:
    """(api key, min version, max version) of every served API, by key: the ApiVersions answer."""
    return [(key, APIS[key].min_version, APIS[key].max_version) for key in sorted(APIS)]
