"""StreamHouse, a Kafka-wire-compatible broker.

`from streamhouse import EmbeddedBroker` runs one inside the calling process (streamhouse.embedded); the
pytest plugin (streamhouse.pytest_plugin) gives tests one. The broker's parts: `streamhouse.broker`,
`streamhouse.protocol`, `streamhouse.storage`, `streamhouse.metadata` and `streamhouse.tracing`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamhouse.embedded import EmbeddedBroker

try:
    __version__ = version("streamhouse-broker")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["EmbeddedBroker", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import streamhouse.broker.cli` or the pytest plugin's loading stays light.
    if name == "EmbeddedBroker":
        from streamhouse.embedded import EmbeddedBroker

        return EmbeddedBroker
    raise AttributeError(f"module 'streamhouse' has no attribute {name!r}")
