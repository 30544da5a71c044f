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
from hypothesis import given
from hypothesis import strategies as st

from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy, ObjectNotFoundError
from streamhouse.storage.objects import volumes as volumes_module
from streamhouse.storage.objects.volumes import (
    IOV_MAX,
    SPARE_SUFFIX,
    VOLUME_DIRECTORY,
    VOLUME_SUFFIX,
    WRITE_CALL_BYTES,
    entry_header,
    life_of,
    write_calls,
)
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


def volumes(tmp_path: Path, suffix: str = VOLUME_SUFFIX) -> list[str]:
    folder = tmp_path / "objects" / VOLUME_DIRECTORY
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(suffix)) if folder.exists() else []


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
        torn.write(entry_header(b"p/torn", 100, life_of(volume)) + b"z" * 10)

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
    from streamhouse.storage.objects import ObjectStoreUnavailableError

    store = open_store()
    (tmp_path / "objects").rmdir()
    with pytest.raises(ObjectStoreUnavailableError):
        await store.put("p/a", b"a")
    assert not (tmp_path / "objects").exists(), "the root is not created again"


async def test_a_failed_fdatasync_fails_the_put_and_keeps_the_previous_object(
    open_store: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamhouse.storage.objects import ObjectStoreUnavailableError

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


@pytest.fixture
def quiet_spares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spares may be taken as soon as they are made."""
    monkeypatch.setattr(volumes_module, "SPARE_QUIET_SECONDS", 0.0)


def volume_path(tmp_path: Path, name: str) -> Path:
    return tmp_path / "objects" / VOLUME_DIRECTORY / name


@pytest.mark.usefixtures("quiet_spares")
async def test_a_dead_volume_is_kept_as_a_spare_and_written_again_under_a_new_life(
    open_store: Opener, tmp_path: Path
) -> None:
    store = open_store()
    await store.put("p/1", b"1" * 600)  # each entry fills a volume
    await store.put("p/2", b"2" * 600)
    first, second = volumes(tmp_path)
    inode = volume_path(tmp_path, first).stat().st_ino
    await store.delete(["p/1"])
    assert len(volumes(tmp_path, SPARE_SUFFIX)) == 1
    assert volumes(tmp_path) == [second]
    await store.put("p/3", b"3" * 600)
    assert volumes(tmp_path, SPARE_SUFFIX) == []
    [recycled] = [name for name in volumes(tmp_path) if name != second]
    assert volume_path(tmp_path, recycled).stat().st_ino == inode, "the spare's blocks are written again"
    assert life_of(recycled) != life_of(first)
    for reader in (store, open_store()):
        assert await reader.get("p/3") == b"3" * 600
        assert await reader.list() == ["p/2", "p/3"], "the old entries behind the new one are not read"
        with pytest.raises(ObjectNotFoundError):
            await reader.get("p/1")


@pytest.mark.usefixtures("quiet_spares")
async def test_a_descriptor_opened_before_a_volume_was_recycled_neither_reads_nor_kills_the_new_entries(
    open_store: Opener, tmp_path: Path
) -> None:
    writer, reader, deleter = open_store(), open_store(), open_store()
    await writer.put("p/old", b"o" * 600)
    await writer.put("p/2", b"2" * 600)
    old, second = volumes(tmp_path)
    for other in (reader, deleter):
        assert await other.get("p/old") == b"o" * 600  # each knows where p/old was
    await writer.delete(["p/old"])
    await writer.put("p/new", b"n" * 600)  # the same key and data lengths: the same offsets as p/old
    [recycled] = [name for name in volumes(tmp_path) if name != second]
    # As if both had opened the old name just before the rename: the old name is the new inode.
    os.link(volume_path(tmp_path, recycled), volume_path(tmp_path, old))
    await deleter.delete(["p/old"])
    with pytest.raises(ObjectNotFoundError):
        await reader.get("p/old")
    os.unlink(volume_path(tmp_path, old))
    assert await writer.get("p/new") == b"n" * 600
    assert await open_store().get("p/new") == b"n" * 600, "the stale delete marked nothing in the new life"


async def test_spares_are_capped_and_a_fresh_one_waits_its_quiet_time(
    open_store: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(volumes_module, "SPARE_VOLUMES", 1)
    store = open_store()
    for name in ("p/1", "p/2", "p/3"):
        await store.put(name, b"x" * 600)
    *_, third = volumes(tmp_path)
    await store.delete(["p/1", "p/2", "p/3"])
    assert volumes(tmp_path) == [third], "the volume being written stays"
    [spare] = volumes(tmp_path, SPARE_SUFFIX)
    await store.put("p/4", b"x" * 600)
    assert volumes(tmp_path, SPARE_SUFFIX) == [spare], "a spare younger than SPARE_QUIET_SECONDS is not taken"
    # The third volume, retired and dead, is unlinked: one spare is the cap.
    [fourth] = volumes(tmp_path)
    assert fourth != third


@pytest.mark.usefixtures("quiet_spares")
async def test_bytes_left_in_a_recycled_volume_cannot_pose_as_an_entry(open_store: Opener) -> None:
    store = open_store()
    # A client's record bytes shaped as an entry, at offset 136 of the volume: 28-byte header, 8-byte key, 100 bytes.
    forged = entry_header(b"p/forged", 6, 0x1234) + b"forged"
    await store.put("p/victim", b"v" * 100 + forged)
    await store.put("p/filler", b"f" * 900)  # into a new volume: the first is retired
    await store.delete(["p/victim"])
    await store.put("p/new", b"n" * 103)  # into the spare, ending where the forged entry starts
    assert await open_store().list() == ["p/filler", "p/new"]


@pytest.mark.usefixtures("quiet_spares")
async def test_a_volume_left_without_a_whole_entry_is_reclaimed_at_start(open_store: Opener, tmp_path: Path) -> None:
    store = open_store()
    await store.put("p/a", b"a")
    [volume] = volumes(tmp_path)
    await store.close()
    # A writer that died in its first put: only part of the entry reached the disk.
    volume_path(tmp_path, volume).write_bytes(entry_header(b"p/torn", 100, life_of(volume)) + b"z" * 10)
    open_store()
    assert volumes(tmp_path) == [] and len(volumes(tmp_path, SPARE_SUFFIX)) == 1


def _check_calls(parts: list[bytes], calls: list[list[memoryview]]) -> None:
    assert b"".join(bytes(piece) for call in calls for piece in call) == b"".join(parts)
    for call in calls:
        assert 1 <= len(call) <= IOV_MAX
        assert all(len(piece) > 0 for piece in call)
        assert sum(len(piece) for piece in call) <= WRITE_CALL_BYTES


@given(st.lists(st.integers(min_value=0, max_value=3 * WRITE_CALL_BYTES), max_size=6))
def test_write_calls_keep_the_bytes_in_order_within_the_limits(sizes: list[int]) -> None:
    parts = [bytes([index % 251]) * size for index, size in enumerate(sizes)]
    _check_calls(parts, write_calls(parts))


def test_write_calls_cut_a_large_part_and_start_a_call_at_iov_max_buffers() -> None:
    large = b"L" * (2 * WRITE_CALL_BYTES + 10)
    assert [[len(piece) for piece in call] for call in write_calls([large])] == [
        [WRITE_CALL_BYTES],
        [WRITE_CALL_BYTES],
        [10],
    ]
    small = [b"s"] * (IOV_MAX + 1)
    calls = write_calls(small)
    assert [len(call) for call in calls] == [IOV_MAX, 1]
    _check_calls(small, calls)


async def test_a_large_put_is_written_in_calls_of_at_most_write_call_bytes(
    open_store: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments (files) and volume entries alike: no pwritev of 2 MiB or more (see WRITE_CALL_BYTES)."""
    store = open_store()
    parts = [b"a" * 100, b"b" * (2 * WRITE_CALL_BYTES + 5), b"c" * 7]
    calls = spy_os(monkeypatch, "pwritev")
    await store.put("q/segment", parts)
    await store.put("p/packed", parts)
    assert len(calls) == 6
    assert all(sum(len(buffer) for buffer in args[1]) <= WRITE_CALL_BYTES for _, args in calls)
    assert (tmp_path / "objects" / "q" / "segment").read_bytes() == b"".join(parts)
    assert await open_store().get("p/packed") == b"".join(parts)
