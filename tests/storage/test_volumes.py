"""Packed objects (storage/objects/volumes.py) through the folder store: sharing, reclaiming, crashes, system calls.

The contract suite runs over a packing store too (conftest's filesystem-packed); these tests cover
what only volumes have. Two stores over one folder stand for two broker processes: each opens its
own descriptors, so flock and page-cache visibility behave as between processes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage.objects import FilesystemObjectStore, FsyncPolicy, ObjectNotFoundError
from storage.objects.volumes import VOLUME_DIRECTORY, entry_header
from tests.storage.oscalls import spy_os

VOLUME_BYTES = 1000  # entries of 600 bytes: one per volume

Opener = Callable[..., FilesystemObjectStore]


@pytest.fixture
async def open_store(tmp_path: Path) -> AsyncIterator[Opener]:
    """Packing stores over one folder (every key under p/), closed after the test."""
    opened: list[FilesystemObjectStore] = []

    def open_one(fsync: FsyncPolicy = FsyncPolicy.ALWAYS, pack_prefix: str | None = "p/") -> FilesystemObjectStore:
        store = FilesystemObjectStore(tmp_path / "objects", fsync, pack_prefix, volume_bytes=VOLUME_BYTES)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


def volumes(tmp_path: Path) -> list[str]:
    folder = tmp_path / "objects" / VOLUME_DIRECTORY
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_packed_keys_make_no_file_and_other_keys_stay_files(open_store: Opener, tmp_path: Path) -> None:
    store = open_store()
    await store.put("p/a.obj", b"packed")
    await store.put("q/b.obj", b"a file")
    assert not (tmp_path / "objects" / "p").exists()
    assert (tmp_path / "objects" / "q" / "b.obj").read_bytes() == b"a file"
    assert len(volumes(tmp_path)) == 1
    assert await store.list() == ["p/a.obj", "q/b.obj"]
    assert await store.get("p/a.obj", 1, 4) == b"ack"


async def test_a_put_after_the_first_is_one_write_and_one_fdatasync(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    await store.put("p/first", b"x" * 100)
    calls = spy_os(monkeypatch, "open", "fsync", "fdatasync", "pwritev", "link", "replace")
    await store.put("p/second", b"y" * 100)
    assert [name for name, _ in calls] == ["pwritev", "fdatasync"]


async def test_fsync_never_syncs_nothing(open_store: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(FsyncPolicy.NEVER)
    synced = spy_os(monkeypatch, "fdatasync", "fsync")
    await store.put("p/a", b"a")
    await store.delete(["p/a"])
    assert synced == []


async def test_another_store_reads_puts_and_sees_deletes(open_store: Opener) -> None:
    writer, reader = open_store(), open_store(pack_prefix=None)
    await writer.put("p/a", b"first")
    assert await reader.get("p/a") == b"first"  # not known when the reader opened: found by a scan
    await writer.put("p/b", b"second")
    assert await reader.list("p/") == ["p/a", "p/b"]
    await reader.delete(["p/a"])
    with pytest.raises(ObjectNotFoundError):
        await writer.get("p/a")  # the entry's state is read on every get
    assert await writer.list("p/") == ["p/b"]


async def test_a_volume_is_removed_once_its_objects_are_deleted_and_it_is_no_longer_written(
    open_store: Opener, tmp_path: Path
) -> None:
    store = open_store()
    for name in ("p/1", "p/2", "p/3"):
        await store.put(name, name.encode() * 200)  # 600 bytes: each entry fills a volume
    _, second, third = volumes(tmp_path)
    await store.delete(["p/1"])
    assert volumes(tmp_path) == [second, third]
    await store.delete(["p/2", "p/3"])
    assert volumes(tmp_path) == [third], "the volume being written stays"
    await store.put("p/4", b"4")
    assert volumes(tmp_path) == [third], "it takes entries still"
    assert await store.get("p/4") == b"4"


async def test_a_volume_another_store_appends_to_is_not_removed(open_store: Opener, tmp_path: Path) -> None:
    writer, deleter = open_store(), open_store()
    await writer.put("p/a", b"a")
    [volume] = volumes(tmp_path)
    await deleter.delete(["p/a"])
    assert volumes(tmp_path) == [volume]
    await writer.put("p/b", b"b")
    assert await deleter.get("p/b") == b"b"
    await writer.close()  # retires the volume; the writer finds p/b live, so it stays
    assert volumes(tmp_path) == [volume]
    await deleter.delete(["p/b"])
    assert volumes(tmp_path) == []


async def test_objects_survive_a_new_store_and_a_torn_entry_at_the_end_is_ignored(
    open_store: Opener, tmp_path: Path
) -> None:
    store = open_store()
    await store.put("p/a", b"alpha")
    await store.put("p/a", b"alpha, replaced")
    await store.put("p/b", b"beta")
    [volume] = volumes(tmp_path)
    await store.close()
    # A crash in the middle of a put: its header and part of its data reached the disk.
    with open(tmp_path / "objects" / VOLUME_DIRECTORY / volume, "ab") as torn:
        torn.write(entry_header(b"p/torn", 100) + b"z" * 10)

    reopened = open_store()
    assert await reopened.list() == ["p/a", "p/b"]
    assert await reopened.get("p/a") == b"alpha, replaced"
    assert await reopened.get("p/b") == b"beta"
    with pytest.raises(ObjectNotFoundError):
        await reopened.get("p/torn")
    await reopened.put("p/c", b"gamma")  # into a new volume: nothing is appended after a torn entry
    assert len(volumes(tmp_path)) == 2
    assert await open_store().get("p/c") == b"gamma"


async def test_a_garbage_header_ends_the_scan_of_its_volume(open_store: Opener, tmp_path: Path) -> None:
    store = open_store()
    await store.put("p/a", b"alpha")
    [volume] = volumes(tmp_path)
    await store.close()
    with open(tmp_path / "objects" / VOLUME_DIRECTORY / volume, "ab") as garbage:
        garbage.write(os.urandom(300))
    assert await open_store().list() == ["p/a"]


async def test_a_missing_root_makes_a_packed_put_unavailable(open_store: Opener, tmp_path: Path) -> None:
    from storage.objects import ObjectStoreUnavailableError

    store = open_store()
    (tmp_path / "objects").rmdir()
    with pytest.raises(ObjectStoreUnavailableError):
        await store.put("p/a", b"a")
    assert not (tmp_path / "objects").exists(), "the root is not created again"


async def test_a_failed_fdatasync_fails_the_put_and_keeps_the_previous_object(
    open_store: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.objects import ObjectStoreUnavailableError

    store = open_store()
    await store.put("p/a", b"kept")
    [volume] = volumes(tmp_path)

    def failing_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    with pytest.raises(ObjectStoreUnavailableError):
        await store.put("p/a", b"lost")
    monkeypatch.undo()
    assert await store.get("p/a") == b"kept"
    assert await open_store().get("p/a") == b"kept", "the unsynced entry was marked dead"
    await store.put("p/b", b"b")  # into a new volume: the failed one takes no more entries
    assert volumes(tmp_path)[0] == volume and len(volumes(tmp_path)) == 2
