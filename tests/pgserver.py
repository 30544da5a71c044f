"""A throwaway PostgreSQL for the tests, one per test session, started on first use.

Where a Docker engine answers (`docker info`) and testcontainers is installed, PostgreSQL runs
in a container (testcontainers is not a declared test dependency: `pip install
testcontainers[postgres]` to use it; this branch is not exercised on the machines without
Docker that run the suite today). Otherwise Debian's server binaries (initdb, pg_ctl: on PATH,
else the newest /usr/lib/postgresql/*/bin) make a cluster in a temporary folder (in /dev/shm
when it has room) that listens on 127.0.0.1 and a free port, with trust authentication and
durability switched off for speed. initdb refuses to run as root, so as root the cluster
belongs to the `postgres` system user when it exists (Debian's package creates it).

Each test makes a database of its own with `create_database` and drops it after;
tests/conftest.py stops the server at the end of the session. Tests of outages start a server
of their own with `start_server`, then `halt` and `resume` it: same port, same data.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.sessionserver import SessionServer, docker_available, free_port, importable

START_TIMEOUT = 30.0
MEMORY_FOLDER_MIN_FREE = 1 << 30
_SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # a throwaway cluster: nothing needs to survive a crash
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


@dataclass
class PgServer:
    """A running PostgreSQL server for tests."""

    host: str
    port: int
    user: str
    password: str
    halt: Callable[[], None]  # stop the server, keeping its data and port
    resume: Callable[[], None]  # start it again after halt, on the same port with the same data
    stop: Callable[[], None]  # stop it for good and remove its data

    def dsn(self, database: str = "postgres") -> str:
        password = f":{self.password}" if self.password else ""
        return f"postgresql://{self.user}{password}@{self.host}:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new, empty database with a unique name; the DSN of it."""
        name = f"test_{next(_numbers)}_{secrets.token_hex(4)}"
        connection = await asyncpg.connect(self.dsn())
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()
        return self.dsn(name)

    async def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        connection = await asyncpg.connect(self.dsn())
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await connection.close()


@dataclass
class _Cluster:
    """A cluster made with Debian's binaries, in `folder`."""

    folder: Path
    bin_dir: Path
    run_as: list[str]  # command prefix running the binaries as the cluster's owner

    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        command = [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        return subprocess.run(command, capture_output=True, timeout=timeout)

    def start(self, port: int) -> subprocess.CompletedProcess[bytes]:
        options = {**_SERVER_OPTIONS, "port": str(port), "unix_socket_directories": str(self.folder)}
        server_args = " ".join(f"-c {name}={value}" for name, value in options.items())
        log = str(self.folder / "server.log")
        return self.pg_ctl(
            "-l", log, "-o", server_args, "-w", "-t", str(int(START_TIMEOUT)), "start", timeout=START_TIMEOUT + 10
        )

    def server(self, port: int) -> PgServer:
        def halt() -> None:
            self.pg_ctl("-m", "fast", "-w", "stop")

        def resume() -> None:
            started = self.start(port)
            if started.returncode != 0:
                raise RuntimeError(f"PostgreSQL did not start again on port {port}:\n{started.stderr.decode()}")

        def stop() -> None:
            self.pg_ctl("-m", "immediate", "stop")
            shutil.rmtree(self.folder, ignore_errors=True)

        return PgServer("127.0.0.1", port, "postgres", "", halt, resume, stop)


_numbers = itertools.count()


def find_bin_dir() -> Path:
    """The folder of initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        # Resolve links (e.g. /usr/local/bin/initdb): pg_ctl finds `postgres` beside itself.
        return Path(os.path.realpath(found)).parent
    candidates = [Path(path) for path in glob.glob("/usr/lib/postgresql/*/bin") if (Path(path) / "initdb").is_file()]
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's postgresql package")
    return max(candidates, key=lambda path: _version_key(path.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _owner() -> tuple[list[str], int | None]:
    """The command prefix to run the binaries with, and the uid to give the folder (None: ours)."""
    if os.geteuid() != 0:
        return [], None
    try:
        postgres = pwd.getpwnam("postgres")
    except KeyError:
        return [], None
    runner = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
    if runner is None:
        raise RuntimeError("running as root, and runuser is missing to run PostgreSQL as the postgres user")
    return runner, postgres.pw_uid


def start_server() -> PgServer:
    """A new server: in a container where Docker and testcontainers are there, else from Debian's binaries."""
    if docker_available() and importable("testcontainers.postgres"):
        return _start_container()
    return _start_cluster()


def _start_container() -> PgServer:
    from testcontainers.postgres import PostgresContainer

    port = free_port()  # a fixed host port, so that the server comes back on it after halt
    container = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres", dbname="postgres")
    container.with_bind_ports(5432, port)
    container.start()

    def resume() -> None:
        container.get_wrapped_container().start()
        deadline = time.monotonic() + START_TIMEOUT
        while subprocess.run(["docker", "exec", container.get_wrapped_container().id, "pg_isready"]).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL container did not start again")
            time.sleep(0.2)

    return PgServer(
        "127.0.0.1", port, "postgres", "postgres", container.get_wrapped_container().stop, resume, container.stop
    )


def _start_cluster() -> PgServer:
    bin_dir = find_bin_dir()
    run_as, uid = _owner()
    folder = Path(tempfile.mkdtemp(prefix="streamhouse-pg-", dir=_memory_folder()))
    try:
        if uid is not None:
            os.chown(folder, uid, -1)
        data = folder / "data"
        initdb = ["-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"]
        _run([*run_as, str(bin_dir / "initdb"), *initdb])
        cluster = _Cluster(folder, bin_dir, run_as)
        for _ in range(5):
            port = free_port()
            started = cluster.start(port)
            if started.returncode == 0:
                return cluster.server(port)
            time.sleep(0.1)  # most likely the port was taken meanwhile: try another
        log = folder / "server.log"
        output = log.read_text(errors="replace")[-4000:] if log.exists() else started.stderr.decode()
        raise RuntimeError("PostgreSQL did not start:\n" + output)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _memory_folder() -> str | None:
    """/dev/shm when it is a roomy in-memory file system (CREATE DATABASE is much faster there)."""
    try:
        usage = shutil.disk_usage("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if usage.free >= MEMORY_FOLDER_MIN_FREE and os.access("/dev/shm", os.W_OK) else None


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, timeout=120)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(command)} failed:\n{output}")


_session = SessionServer(start_server)
shared_server = _session.get
stop_shared_server = _session.stop
