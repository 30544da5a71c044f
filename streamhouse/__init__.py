"""StreamHouse, a Kafka-wire-compatible broker.

`from streamhouse import EmbeddedBroker` runs one inside the calling process (streamhouse.embedded); the
pytest plugin (streamhouse.pytest_plugin) gives tests one. The broker's parts: `streamhouse.broker`,
`streamhouse.protocol`, `streamhouse.storage`, `streamhouse.metadata` and `streamhouse.tracing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamhouse.embedded import EmbeddedBroker

    __version__: str

__all__ = ["EmbeddedBroker", "__version__"]


def __getattr__(name: str) -> Any:
    # Both on first use: importing any part of the package (the CLI, the pytest plugin's loading)
    # stays light; importlib.metadata alone costs tens of milliseconds.
    if name == "EmbeddedBroker":
        from streamhouse.embedded import EmbeddedBroker

        return EmbeddedBroker
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("streamhouse-broker")
        except PackageNotFoundError:  # imported from a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'streamhouse' has no attribute {name!r}")
