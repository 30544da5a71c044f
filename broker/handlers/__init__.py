"""Request handlers, one module per API or API family; HANDLERS maps API keys to them.

A handler takes the broker, the decoded request and its connection, and returns the
response body, or None when no response is due (Produce with acks=0).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from streamhouse.protocol.registry import supported_versions

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

Handler = Callable[["Broker", "Request[Any]", "Connection"], Awaitable[Any]]

HANDLERS: dict[int, Handler] = {}


def advertised_versions() -> list[tuple[int, int, int]]:
    """The ApiVersions answer: every registered API that has a handler, with its registered versions."""
    return [entry for entry in supported_versions() if entry[0] in HANDLERS]


for _module in pkgutil.iter_modules(__path__):
    for _key, _handler in importlib.import_module(f"{__name__}.{_module.name}").HANDLES.items():
        if _key in HANDLERS:
            raise RuntimeError(f"two handlers for API key {_key}")
        HANDLERS[_key] = _handler
