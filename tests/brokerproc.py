"""A `streamhouse serve` subprocess for end-to-end tests: start, stop (TERM or KILL), restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy, ObjectNotFoundError

_READY = re.compile(r"listening on ([\d.]+):(\d+)(?:, HTTP on [\d.]+:(\d+))?")
_LISTENER = re.compile(r"^listener (\w+)://\S*:(\d+) \(")  # one line per listener, with --listeners
START_TIMEOUT = 30.0


class BrokerProcess:
    """One broker over one data folder; restarts keep the folder (and so the data)."""

    def __init__(
        self,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        module: str = "streamhouse.broker.cli",
        wrapper: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.module = module  # run as `python -m <module> serve ...`
        self.wrapper = list(wrapper)  # a command the broker runs under, such as valgrind
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.http_port = 0
        self.listener_ports: dict[str, int] = {}  # each listener's port by name, with --listeners
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def bootstrap_of(self, listener: str) -> str:
        """The address of the listener of that name (started with --listeners)."""
        return f"127.0.0.1:{self.listener_ports[listener]}"

    @property
    def metadata_url(self) -> str:
        """The metadata store it serves from: its --metadata flag, else SQLite in its data folder."""
        args = self.extra_args
        flagged = [args[index + 1] for index, arg in enumerate(args[:-1]) if arg == "--metadata"]
        return flagged[-1] if flagged else f"sqlite://{self.data_dir.resolve() / 'metadata.db'}"

    def stored_objects(self, prefix: str = "") -> dict[str, int]:
        """Key and size of the objects under a key prefix in its folder store (no --storage flag)."""
        return {key: len(data) for key, data in self.read_objects(prefix).items()}

    def read_objects(self, prefix: str = "") -> dict[str, bytes]:
        """Key and bytes of the objects under a key prefix in its folder store (no --storage flag).

        Read through the store: the broker packs flush objects into volume files, so files are not objects.
        """

        async def read() -> dict[str, bytes]:
            store = FilesystemObjectStore(self.data_dir / "objects", FsyncPolicy.NEVER)
            objects = {}
            try:
                for key in await store.list(prefix):
                    with contextlib.suppress(ObjectNotFoundError):  # deleted by maintenance since the list
                        objects[key] = await store.get(key)
            finally:
                await store.close()
            return objects

        return asyncio.run(read())

    def start(self) -> BrokerProcess:
        args = [
            *self.wrapper, sys.executable, "-m", self.module, "serve",
            "--port", str(self.port), "--metrics-port", "0", "--data-dir", str(self.data_dir),
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=Path(__file__).parents[1]
        )
        ready = threading.Event()  # listening, or the output ended
        listening = threading.Event()

        def pump(stream: subprocess.Popen[str]) -> None:
            assert stream.stdout is not None
            for line in stream.stdout:
                self.output.append(line)
                named = _LISTENER.match(line)
                if named:
                    self.listener_ports[named.group(1)] = int(named.group(2))
                match = _READY.search(line)
                if match:
                    self.port = int(match.group(2))
                    self.http_port = int(match.group(3) or 0)
                    listening.set()
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=pump, args=(self.process,), daemon=True)
        self._reader.start()
        # The output can end before the process is reaped: "listening" tells a start from an exit.
        if not ready.wait(self.start_timeout) or not listening.is_set() or self.process.poll() is not None:
            self.kill()
            raise RuntimeError("broker did not start:\n" + "".join(self.output[-50:]))
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, sig: int = signal.SIGTERM) -> int:
        """Stop with `sig`, start again on the same port and folder; returns the exit code of the stop."""
        code = self.stop(sig)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return code
            except RuntimeError:
                # The port can linger briefly after a kill; try again for a while.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def log_text(self) -> str:
        return "".join(self.output)
