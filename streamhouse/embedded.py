"""EmbeddedBroker: a whole StreamHouse broker inside the calling process, for tests and local tools.

It runs on a thread of its own with its own event loop, not as a subprocess: it answers its first
request within a fraction of a second (a subprocess would first pay for a new interpreter and the
broker's imports), nothing outlives the test process, and a failure to start raises in the caller with
the broker's own exception. What it shares with its host is the GIL: producers and consumers in the
same process take turns with it, which is fine for tests, not for benchmarks.

By default it keeps everything in memory (SQLite in memory, memory:// objects). `data_dir=` keeps the
objects and metadata in a folder instead (the shape `streamhouse serve` runs by default, without its
fsync), which survives a restart of the broker on the same folder; `data_dir="temporary"` makes a
folder of its own, removed when the broker stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker

TEMPORARY = "temporary"  # data_dir=TEMPORARY: a folder of the broker's own, removed at stop
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

# Settings for a broker that tests drive: groups rebalance at once (Kafka's test images do the same
# with group.initial.rebalance.delay.ms=0), no HTTP port, no metrics, no background upkeep to wait for.
EMBEDDED_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "metrics_port": -1,
    "metrics": False,
    "group_initial_rebalance_delay_ms": 0,
    "fsync": "never",
}


class EmbeddedBroker:
    """A broker on 127.0.0.1 and a free port, in this process; a context manager, or start()/stop().

        with EmbeddedBroker() as broker:
            broker.create_topic("orders", partitions=3)
            producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap_servers})

    Any `streamhouse serve` option can be given as a keyword (`auto_create_topics=False`,
    `num_partitions=4`, `metadata="postgresql://..."`, `storage="s3://bucket/prefix"`, ...).
    """

    def __init__(self, data_dir: str | Path | None = None, **options: Any) -> None:
        from streamhouse.broker.config import BrokerConfig
        from streamhouse.broker.config_checks import config_problem

        known = {spec.name for spec in dataclasses.fields(BrokerConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"EmbeddedBroker: unknown options {', '.join(unknown)}")
        settings = {**EMBEDDED_DEFAULTS, **options}
        self._temporary_dir: str | None = None
        if data_dir is None:
            settings.setdefault("metadata", "sqlite://:memory:")
            settings.setdefault("storage", "memory://")
        elif data_dir == TEMPORARY:
            self._temporary_dir = tempfile.mkdtemp(prefix="streamhouse-embedded-")
            settings["data_dir"] = self._temporary_dir
        else:
            settings["data_dir"] = str(data_dir)
        self.config = BrokerConfig(**settings)
        problem = config_problem(self.config)  # what `streamhouse serve` refuses, named the same way
        if problem:
            self._remove_temporary_dir()
            raise ValueError(f"EmbeddedBroker: {problem}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def bootstrap_servers(self) -> str:
        """host:port for a client's bootstrap.servers / bootstrap_servers."""
        if self._broker is None:
            raise RuntimeError("EmbeddedBroker is not started")
        return f"{self.config.host}:{self._broker.port}"

    @property
    def data_dir(self) -> Path | None:
        """The folder holding the objects and metadata; None in memory."""
        return None if self.config.metadata and self.config.storage else Path(self.config.data_dir)

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.rpartition(":")[2])

    def start(self) -> EmbeddedBroker:
        """Start serving; returns once the broker accepts clients (raises what stopped it otherwise)."""
        if self._thread is not None:
            raise RuntimeError("EmbeddedBroker is already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="streamhouse-broker", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=START_TIMEOUT_S)
        except BaseException:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
            self._remove_temporary_dir()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker (answering what it received) and wait for its thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(STOP_TIMEOUT_S)
        self._thread = None
        self._broker = None
        self._remove_temporary_dir()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def create_topic(self, name: str, partitions: int = 1, configs: Mapping[str, str] | None = None) -> None:
        """Create a topic over the Kafka protocol, as an admin client would (raises if the broker refuses)."""
        from streamhouse.broker.client import BrokerConnection
        from streamhouse.broker.topics_command import create_topic

        with BrokerConnection(self.bootstrap_servers, client_id="streamhouse-embedded") as connection:
            create_topic(connection, name, partitions, dict(configs or {}))

    def _remove_temporary_dir(self) -> None:
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as exc:  # a start-up failure: the caller raises it
            if not started.done():
                started.set_exception(exc)
        finally:
            loop.close()

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        from streamhouse.broker.app import Broker

        self._stopped = asyncio.Event()
        broker = Broker(self.config)
        await broker.start()
        self._broker = broker
        started.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            await broker.stop()
