"""Checks of a BrokerConfig before anything starts: each mistake named in one line (`streamhouse serve`
prints it and exits non-zero) instead of a traceback, or a port the OS quietly wraps (99999 is 34463)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from streamhouse.broker.config import BrokerConfig
from streamhouse.storage.objects import SUPPORTED_URLS

MAX_PORT = 65535
METADATA_SCHEMES = ("sqlite://", "postgresql://", "postgres://")
STORAGE_SCHEMES = ("memory://", "file://", "s3://")
# A store URL with a scheme other than these is a mistake, not a folder path.
_SCHEME_SEPARATOR = "://"


def config_problem(config: BrokerConfig) -> str | None:
    """The first mistake in the configuration, as one line naming the flag; None when there is none."""
    for flag, port, lowest in (("--port", config.port, 0), ("--metrics-port", config.metrics_port, -1)):
        if not lowest <= port <= MAX_PORT:
            allowed = "-1 (off) or 0-65535" if lowest < 0 else "0-65535 (0 picks a free one)"
            return f"{flag} {port}: not a port; use {allowed}"
    if config.metadata is not None and not config.metadata.lower().startswith(METADATA_SCHEMES):
        return (
            f"--metadata {config.metadata}: unsupported URL scheme; supported: "
            "sqlite:///path/metadata.db, sqlite://:memory:, postgresql://user:password@host:port/database"
        )
    storage = config.storage
    if storage is not None and _SCHEME_SEPARATOR in storage and not storage.lower().startswith(STORAGE_SCHEMES):
        return f"--storage {storage}: unsupported URL scheme; supported: {SUPPORTED_URLS}"
    if config.metadata is None or config.storage is None:  # the data dir holds one of them
        return data_dir_problem(config.data_dir)
    return None


def data_dir_problem(data_dir: str) -> str | None:
    """Whether the data folder exists or can be made, and a file can be written in it."""
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"--data-dir {data_dir}: exists and is not a folder"
    except OSError as exc:
        return f"--data-dir {data_dir}: cannot be created: {exc.strerror or exc}"
    # A real write, not os.access: root passes access checks on read-only mounts and in /proc.
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
    except OSError as exc:
        return f"--data-dir {data_dir}: cannot write in it: {exc.strerror or exc}"
    os.close(descriptor)
    os.unlink(probe)
    return None
