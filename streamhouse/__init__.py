"""StreamHouse, a Kafka-wire-compatible broker.

Its parts: `streamhouse.broker`, `streamhouse.protocol`, `streamhouse.storage`, `streamhouse.metadata` and
`streamhouse.tracing`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streamhouse-broker")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
