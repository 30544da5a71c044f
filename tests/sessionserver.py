"""One server for the whole test session: started on first use, stopped once at the end."""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import socket
import subprocess
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Stoppable(Protocol):
    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=Stoppable)


class SessionServer(Generic[ServerT]):
    def __init__(self, start: Callable[[], ServerT]) -> None:
        self._start = start
        self._server: ServerT | None = None

    def get(self) -> ServerT:
        """The running server, started on the first call."""
        if self._server is None:
            self._server = self._start()
            atexit.register(self.stop)  # in case the session ends without pytest's hooks
        return self._server

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def docker_available() -> bool:
    """Whether a Docker engine answers `docker info`."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def importable(module: str) -> bool:
    """Whether `module` (a dotted name) can be imported: optional test helpers such as testcontainers."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False
