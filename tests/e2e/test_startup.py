"""A broker that cannot start says why and exits 1; it does not hang (the metadata store's thread kept it alive)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_in_use_ends_the_broker_with_a_message(flag: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--metrics-port": "0"} | {flag: str(port)}
        args = [sys.executable, "-m", "broker.cli", "serve", "--data-dir", str(tmp_path)]
        done = subprocess.run(
            [*args, *(item for pair in ports.items() for item in pair)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"streamhouse serve: [Errno 98] error while attempting to bind on address ('127.0.0.1', {port})" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
