"""Flags and users for brokers with TLS and SASL listeners: the e2e security tests and the compat runs.

Users are made as an operator would, before the broker starts: `streamhouse users add` on its data folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tlsfiles import TlsFiles

REPOSITORY = Path(__file__).parents[1]
SASL_MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"


def add_user(data_dir: Path, name: str, password: str, mechanism: str) -> None:
    """`streamhouse users add` against the broker's data folder, with no broker running."""
    done = subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "users", "add", name, "--password", password,
         "--mechanism", mechanism, "--data-dir", str(data_dir)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"users add {name}: exit {done.returncode}\n{done.stdout}{done.stderr}")


def listener_args(protocol: str, port: int, tls: TlsFiles, mechanisms: str = SASL_MECHANISMS) -> list[str]:
    """`streamhouse serve` flags for one listener (SSL, SASL_SSL, SASL_PLAINTEXT) on 127.0.0.1:`port`."""
    args = ["--listeners", f"{protocol}://127.0.0.1:{port}"]
    if protocol.endswith("SSL"):
        args += ["--ssl-certfile", str(tls.server_cert), "--ssl-keyfile", str(tls.server_key)]
    if protocol.startswith("SASL"):
        args += ["--sasl-mechanisms", mechanisms]
    return args
