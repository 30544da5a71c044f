"""The `store` fixture: one instance of every object store backend, empty, for the contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy, MemoryObjectStore, ObjectStore
from tests.s3server import shared_server

# A new backend joins the contract suite with one entry here.
BACKENDS: dict[str, Callable[[Path], ObjectStore]] = {
    "memory": lambda tmp_path: MemoryObjectStore(),
    "filesystem-always": lambda tmp_path: FilesystemObjectStore(tmp_path / "objects", FsyncPolicy.ALWAYS),
    "filesystem-never": lambda tmp_path: FilesystemObjectStore(tmp_path / "objects", FsyncPolicy.NEVER),
    # Every key packed into volume files, small enough that the suite's objects span several.
    "filesystem-packed": lambda tmp_path: FilesystemObjectStore(
        tmp_path / "objects", FsyncPolicy.ALWAYS, pack_prefix="", volume_bytes=64 * 1024
    ),
    # A bucket of the test's own on the session's S3 server (moto, or MinIO where Docker runs).
    "s3": lambda tmp_path: shared_server().store(),
}


@pytest.fixture(params=list(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """An empty store of each backend, closed after the test."""
    instance = BACKENDS[request.param](tmp_path)
    yield instance
    await instance.close()
