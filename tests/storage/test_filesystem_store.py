"""What only the filesystem store promises: atomic renames, no stray temporary files, fsync policy, restarts."""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import os
import time
from pathlib import Path
from typing import Any

import pytest

from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy, ObjectStoreUnavailableError
from streamhouse.storage.objects.filesystem import STALE_TEMP_SECONDS
from streamhouse.storage.objects.volumes import CACHED_VOLUMES
from tests.storage.oscalls import spy_os


def _files(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


@pytest.fixture(params=list(FsyncPolicy))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FilesystemObjectStore:
    return FilesystemObjectStore(tmp_path / "objects", request.param)


async def test_no_temporary_files_remain_after_puts(store: FilesystemObjectStore) -> None:
    await asyncio.gather(*(store.put(f"flush/{n % 3}/{n}.obj", b"x" * n) for n in range(30)))
    await asyncio.gather(*(store.put("same", bytes([n]) * 1000) for n in range(10)))
    assert _files(store.root) == sorted([f"flush/{n % 3}/{n}.obj" for n in range(30)] + ["same"])


async def test_failed_put_leaves_no_temp_file(store: FilesystemObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_write(fd: int, parts: Any, offset: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwritev", failing_write)
    with pytest.raises(ObjectStoreUnavailableError, match="No space"):
        await store.put("dir/full", b"data")
    assert _files(store.root) == []


async def test_crash_leftover_temporary_files_are_not_listed(store: FilesystemObjectStore) -> None:
    await store.put("topics/t/0/1.segment", b"x")
    (store.root / ".0123456789abcdef.tmp").write_bytes(b"partial")
    (store.root / "topics/t/0/.fedcba9876543210.tmp").write_bytes(b"partial")
    (store.root / ".hidden-dir").mkdir()
    (store.root / ".hidden-dir/file").write_bytes(b"not an object")
    assert await store.list() == ["topics/t/0/1.segment"]
    assert await store.list("topics/t/0/") == ["topics/t/0/1.segment"]


def test_stale_temporary_files_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    stale, fresh, kept = tmp_path / "dir/.0000000000000000.tmp", tmp_path / ".1111111111111111.tmp", tmp_path / ".other"
    for path in (stale, fresh, kept):
        path.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(kept, (old, old))
    FilesystemObjectStore(tmp_path, FsyncPolicy.ALWAYS)
    # A fresh temporary file may be another process's put in progress.
    assert not stale.exists()
    assert fresh.exists()
    assert kept.exists()


async def test_data_survives_a_new_store_on_the_same_root(tmp_path: Path) -> None:
    first = FilesystemObjectStore(tmp_path / "objects", FsyncPolicy.ALWAYS)
    await first.put("topics/t/0/0.segment", b"segment")
    await first.put("flush/1/1.obj", b"flush")
    await first.close()
    second = FilesystemObjectStore(str(tmp_path / "objects"), FsyncPolicy.NEVER)
    assert await second.list() == ["flush/1/1.obj", "topics/t/0/0.segment"]
    assert await second.get("topics/t/0/0.segment", 3) == b"ment"


def test_root_is_created(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "a" / "b", FsyncPolicy.NEVER)
    assert store.root == tmp_path / "a" / "b"
    assert store.root.is_dir()
    assert store.fsync is FsyncPolicy.NEVER


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FilesystemObjectStore("objects", FsyncPolicy.ALWAYS)
    assert store.root == tmp_path / "objects"


async def test_delete_removes_emptied_directories_but_not_the_root(store: FilesystemObjectStore) -> None:
    await store.put("topics/t/0/1.segment", b"x")
    await store.put("topics/t/1/1.segment", b"x")
    await store.delete(["topics/t/0/1.segment"])
    assert not (store.root / "topics/t/0").exists()
    assert (store.root / "topics/t/1").is_dir()
    await store.delete(["topics/t/1/1.segment"])
    assert list(store.root.iterdir()) == []
    assert store.root.is_dir()


async def test_ranged_get_reads_only_the_range(store: FilesystemObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.put("big", b"z" * (4 * 1024 * 1024))
    preads = spy_os(monkeypatch, "pread")
    assert await store.get("big", 1000, 1100) == b"z" * 100
    assert [(length, offset) for _, (_, length, offset) in preads] == [(100, 1000)]


async def test_fsync_policy(store: FilesystemObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = spy_os(monkeypatch, "fsync")
    await store.put("new/dirs/key", b"x")
    # The file, its directory, and the parents of the two new directories (new/ and the root).
    assert len(fsyncs) == (4 if store.fsync is FsyncPolicy.ALWAYS else 0)
    fsyncs.clear()
    await store.put("new/dirs/other", b"y")
    assert len(fsyncs) == (2 if store.fsync is FsyncPolicy.ALWAYS else 0)
    fsyncs.clear()
    await store.delete(["new/dirs/key", "new/dirs/other", "missing"])
    assert len(fsyncs) == (1 if store.fsync is FsyncPolicy.ALWAYS else 0)


async def test_a_key_cannot_be_an_object_and_a_directory(store: FilesystemObjectStore) -> None:
    await store.put("a", b"object")
    with pytest.raises(ValueError, match="clashes"):
        await store.put("a/b", b"below an object")
    await store.put("dir/b", b"x")
    with pytest.raises(ValueError, match="clashes"):
        await store.put("dir", b"over a directory")
    assert await store.list() == ["a", "dir/b"]
    assert _files(store.root) == ["a", "dir/b"]


async def test_check_fails_when_the_root_is_gone(store: FilesystemObjectStore) -> None:
    await store.check()
    store.root.rmdir()
    with pytest.raises(ObjectStoreUnavailableError, match="writable"):
        await store.check()
    store.root.write_bytes(b"a file where the folder was")
    with pytest.raises(ObjectStoreUnavailableError):
        await store.check()


async def test_check_leaves_no_file(store: FilesystemObjectStore) -> None:
    await store.check()
    assert list(store.root.iterdir()) == []


async def test_missing_root_makes_operations_unavailable(store: FilesystemObjectStore) -> None:
    store.root.rmdir()
    with pytest.raises(ObjectStoreUnavailableError):
        await store.put("key", b"x")
    assert await store.list() == []


def _cached_bytes(path: Path) -> int:
    """How much of a file is in the page cache (mincore over a private mapping of it)."""
    size = path.stat().st_size
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        # The ctypes view is a temporary: gone (and the buffer released) before the mapping closes.
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapped))
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        residency = (ctypes.c_ubyte * pages)()
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), residency) == 0, ctypes.get_errno()
        cached = sum(page & 1 for page in residency) * mmap.PAGESIZE
    return min(cached, size)


async def test_a_durable_put_leaves_its_file_out_of_the_page_cache(tmp_path: Path) -> None:
    """Segments go to disk, not into the page cache; packed flush objects (recent data, read soon) stay cached."""
    data = os.urandom(4 * 1024 * 1024)
    durable = FilesystemObjectStore(tmp_path / "durable", FsyncPolicy.ALWAYS, pack_prefix="flush/")
    await durable.put("topics/t/0/00000000000000000000.segment", data)
    await durable.put("flush/0/1-1.obj", data)
    await durable.close()
    assert _cached_bytes(durable.root / "topics/t/0/00000000000000000000.segment") == 0
    (volume,) = (path for path in (durable.root / ".volumes").iterdir() if path.suffix == ".vol")
    assert _cached_bytes(volume) >= len(data)
    # Without fsync the pages are the only copy until the kernel writes them back: they stay.
    page_cache_only = FilesystemObjectStore(tmp_path / "never", FsyncPolicy.NEVER)
    await page_cache_only.put("topics/t/0/00000000000000000000.segment", data)
    assert _cached_bytes(page_cache_only.root / "topics/t/0/00000000000000000000.segment") == len(data)
    # Read back from the disk.
    assert (
        await FilesystemObjectStore(tmp_path / "durable", FsyncPolicy.ALWAYS).get(
            "topics/t/0/00000000000000000000.segment"
        )
        == data
    )


@pytest.mark.parametrize("fsync", [FsyncPolicy.ALWAYS, FsyncPolicy.NEVER])
async def test_full_volumes_beyond_the_newest_few_leave_the_page_cache(tmp_path: Path, fsync: FsyncPolicy) -> None:
    """Synced volumes past the newest CACHED_VOLUMES full ones are dropped; unsynced pages (fsync never) stay."""
    store = FilesystemObjectStore(tmp_path / "objects", fsync, pack_prefix="flush/", volume_bytes=64 * 1024)
    data = os.urandom(40 * 1024)  # one entry per volume
    for index in range(CACHED_VOLUMES + 3):
        await store.put(f"flush/{index}", data)
    # Volume names start with their creation time: oldest first.
    volumes = sorted(path for path in (store.root / ".volumes").iterdir() if path.suffix == ".vol")
    assert len(volumes) == CACHED_VOLUMES + 3
    cached = [_cached_bytes(volume) >= len(data) for volume in volumes]
    if fsync is FsyncPolicy.ALWAYS:
        assert cached == [False, False] + [True] * (CACHED_VOLUMES + 1)  # the full ones kept, and the one written
        assert [_cached_bytes(volume) for volume in volumes[:2]] == [0, 0]
    else:
        assert all(cached)
    assert [await store.get(f"flush/{index}") for index in range(CACHED_VOLUMES + 3)] == [data] * (CACHED_VOLUMES + 3)
    await store.close()
