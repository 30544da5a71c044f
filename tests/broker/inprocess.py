"""A broker in the test's own event loop: SQLite in a temp folder, memory objects, no listener port to pick."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from streamhouse.broker.app import Broker
from streamhouse.broker.config import BrokerConfig
from streamhouse.broker.security.listeners import PLAINTEXT, Listener
from streamhouse.metadata.base import ListenerAddress

# The listener of the embedded default, for connections made by hand (no socket).
PLAINTEXT_LISTENER = Listener(PLAINTEXT, PLAINTEXT, ListenerAddress(PLAINTEXT, "127.0.0.1", 0), None)


@asynccontextmanager
async def running_broker(tmp_path: Path, **overrides: Any) -> AsyncIterator[Broker]:
    settings: dict[str, Any] = {
        "metadata": f"sqlite://{tmp_path / 'metadata.db'}",
        "storage": "memory://",
        "data_dir": str(tmp_path),
        "port": 0,
        "metrics_port": -1,
        "num_partitions": 2,
    }
    broker = Broker(BrokerConfig(**(settings | overrides)))
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
