"""A broker that cannot start says why in one line and exits 1: no traceback, and no hang (the metadata
store's thread kept it alive)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def serve_fails(tmp_path: Path, *flags: str) -> str:
    """Run `streamhouse serve` on free ports with these flags; assert it exits 1 without a traceback."""
    ports = {"--port": "0", "--metrics-port": "0"}
    args = [sys.executable, "-m", "streamhouse.broker.cli", "serve", "--data-dir", str(tmp_path / "data")]
    overridden = [item for pair in ports.items() if pair[0] not in flags for item in pair]
    done = subprocess.run([*args, *overridden, *flags], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_in_use_ends_the_broker_with_a_message(flag: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stderr = serve_fails(tmp_path, flag, str(port))
    assert f"streamhouse serve: [Errno 98] error while attempting to bind on address ('127.0.0.1', {port})" in stderr


def test_a_file_that_is_not_a_database_ends_the_broker_with_a_message(tmp_path: Path) -> None:
    not_a_database = tmp_path / "metadata.db"
    not_a_database.write_bytes(b"these bytes are no SQLite header, " * 100)
    stderr = serve_fails(tmp_path, "--metadata", f"sqlite://{not_a_database}")
    assert f"streamhouse serve: cannot use {not_a_database}: file is not a database" in stderr
    assert not_a_database.read_bytes() == b"these bytes are no SQLite header, " * 100


def test_an_unreachable_postgresql_ends_the_broker_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections to it are refused
        stderr = serve_fails(tmp_path, "--metadata", f"postgresql://streamhouse@127.0.0.1:{port}/streamhouse")
    where = f"127.0.0.1:{port}/streamhouse"
    assert f"streamhouse serve: metadata database {where}: [Errno 111] Connection refused" in stderr
