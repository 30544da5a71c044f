"""An object store in a local folder: one file per object, written to a temporary name and renamed into place;
or, for keys under a pack prefix (the log's short-lived flush objects), entries appended to volume files."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import secrets
import stat
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from streamhouse.storage.objects.base import ObjectData, ObjectNotFoundError, ObjectStoreUnavailableError
from streamhouse.storage.objects.common import byte_views, validate_key, validate_keys, validate_range
from streamhouse.storage.objects.volumes import VOLUME_BYTES, Volumes, fsync_directory, read_range, write_parts
from streamhouse.tracing import TRACE

TEMP_SUFFIX = ".tmp"
# Temporary files older than this are leftovers of a crash; younger ones may belong to another process's put.
STALE_TEMP_SECONDS = 3600.0
# A concurrent delete may remove a put's fresh, still empty directory before the put creates its file.
OPEN_ATTEMPTS = 3


class FsyncPolicy(StrEnum):
    """How durable an acknowledged put is."""

    ALWAYS = "always"
    """fsync the file and its directory (a packed object: fdatasync its volume) before the put returns:
    survives a power loss."""
    NEVER = "never"
    """Leave the data in the OS page cache: survives a process crash, not a power loss."""


class FilesystemObjectStore:
    """Objects as files under `root`, key segments as directories.

    Objects are written to `.<random>.tmp` in their directory and moved into place whole, so readers
    see the old or the new object, never part of one. A new key is hard-linked into place before the
    fsyncs (file, then directory, on the put's own thread: on ext4 the file's fsync commits the link's
    journal entry too, so the directory's finds nothing left to write); a power loss during such a put
    may leave the key with part of its bytes, but the put never returned, and an object no index
    names is garbage anyway. A key that exists is replaced as usual:
    fsync, then rename, then fsync the directory, so a power loss keeps the old object or the new.
    Names starting with '.' are never keys (see validate_key), so temporary files cannot collide with
    objects and are never listed.
    Unlike S3, a key cannot name an object and a directory at once: with "a" stored, putting "a/b"
    raises ValueError, and the other way round.

    Once a durable put's fsync has written its pages, they are dropped from the page cache
    (POSIX_FADV_DONTNEED). Objects kept as files are the segments compaction writes: long-lived,
    written once, read back only by consumers far behind (recent data is in the volumes, the tail
    cache and the range caches). Cached, every segment would grow the page cache by its size, and
    on a VM memory never used before is what costs most (free pages go back to the host), while a
    segment's write can reuse the pages the previous one freed (docs/performance.md). As with
    RocksDB's compaction, background rewrites stay out of the page cache that reads of recent data need.

    Keys starting with `pack_prefix` (None: none) are put into volume files instead (see
    storage.objects.volumes: one write and one fdatasync per put, no file to create). Gets, deletes
    and lists find packed objects whatever the prefix, so a store opened without one reads them too.
    """

    def __init__(
        self, root: str | Path, fsync: FsyncPolicy, pack_prefix: str | None = None, volume_bytes: int = VOLUME_BYTES
    ) -> None:
        self._root = os.path.abspath(root)
        self._fsync = fsync
        self._pack_prefix = pack_prefix
        os.makedirs(self._root, exist_ok=True)
        self._remove_stale_temp_files()
        self._volumes = Volumes(self._root, fsync is FsyncPolicy.ALWAYS, volume_bytes)
        self._volumes.sweep()

    @property
    def root(self) -> Path:
        """The folder holding the objects."""
        return Path(self._root)

    @property
    def fsync(self) -> FsyncPolicy:
        """The durability policy of puts and deletes."""
        return self._fsync

    async def put(self, key: str, data: ObjectData) -> None:
        """Store `data` under `key`, replacing any object, durably per the fsync policy."""
        await asyncio.to_thread(self.put_blocking, key, data)

    def put_blocking(self, key: str, data: ObjectData) -> None:
        """put's work on the calling thread (storage.objects.base.BlockingPut)."""
        TRACE.event("put thread", key)
        validate_key(key)
        parts = byte_views(data)  # written as they are, with pwritev (volumes.write_parts)
        try:
            if self._pack_prefix is not None and key.startswith(self._pack_prefix):
                self._volumes.put(key, parts)
            else:
                self._put(key, parts)
        except (NotADirectoryError, IsADirectoryError) as exc:
            raise ValueError(f"object key {key!r} clashes with a stored object or directory: {exc}") from exc
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"put {key!r} failed: {exc}") from exc
        TRACE.event("put thread done", key)

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """The bytes [start, end) of an object, cut short at its end; reads only that range."""
        validate_key(key)
        validate_range(start, end)
        try:
            return await asyncio.to_thread(self._get, key, start, end)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"get {key!r} failed: {exc}") from exc

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects and the directories they leave empty; keys that name no object are ignored."""
        batch = validate_keys(keys)
        if not batch:
            return
        try:
            await asyncio.to_thread(self._delete, batch)
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"delete of {len(batch)} objects failed: {exc}") from exc

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with `prefix`, sorted; temporary files are never listed."""
        try:
            return await asyncio.to_thread(self._list, prefix)
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"list {prefix!r} failed: {exc}") from exc

    async def check(self) -> None:
        """Raise ObjectStoreUnavailableError unless a file can be created in the root."""
        try:
            await asyncio.to_thread(self._probe)
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"object folder {self._root} is not a writable directory: {exc}") from exc

    async def close(self) -> None:
        """Close the volume this store appends to (blocking calls run on the event loop's default executor)."""
        await asyncio.to_thread(self._volumes.close)

    def _put(self, key: str, parts: builtins.list[memoryview]) -> None:
        path = os.path.join(self._root, key)
        fd, temp, created = self._open_temp(key)
        # The rename or link lives in the object's directory, each new directory's entry in its parent.
        directories = list(dict.fromkeys([os.path.dirname(path), *map(os.path.dirname, created)]))
        durable = self._fsync is FsyncPolicy.ALWAYS
        linked = False
        try:
            try:
                write_parts(fd, parts, 0)
                linked = durable and _link_new(temp, path)
                if durable:
                    os.fsync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # clean now: dropped, not written
            finally:
                os.close(fd)
            if not linked:
                os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        if durable:
            for directory in directories:
                fsync_directory(directory)

    def _open_temp(self, key: str) -> tuple[int, str, builtins.list[str]]:
        """Create a temporary file beside `key`'s path: its descriptor, its path, the directories made for it."""
        directory = os.path.dirname(os.path.join(self._root, key))
        created: builtins.list[str] = []
        attempts = OPEN_ATTEMPTS
        while True:
            temp = os.path.join(directory, f".{secrets.token_hex(8)}{TEMP_SUFFIX}")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            except FileNotFoundError:
                attempts -= 1
                if not attempts:
                    raise
                created += self._make_directories(key.split("/")[:-1])
            else:
                return fd, temp, created

    def _make_directories(self, segments: builtins.list[str]) -> builtins.list[str]:
        """Create the missing directories of a key below the root (not the root itself); the ones created."""
        created = []
        directory = self._root
        for segment in segments:
            directory = os.path.join(directory, segment)
            try:
                os.mkdir(directory)
            except FileExistsError:
                continue
            created.append(directory)
        return created

    def _get(self, key: str, start: int, end: int | None) -> bytes:
        packed = self._volumes.read(key, start, end)
        if packed is not None:
            return packed
        try:
            return self._get_file(key, start, end)
        except FileNotFoundError:
            self._volumes.refresh()  # another process may have packed it since this one last looked
            packed = self._volumes.read(key, start, end)
            if packed is None:
                raise
            return packed

    def _get_file(self, key: str, start: int, end: int | None) -> bytes:
        fd = os.open(os.path.join(self._root, key), os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise IsADirectoryError(key)
            return read_range(fd, start, status.st_size if end is None else min(end, status.st_size))
        finally:
            os.close(fd)

    def _delete(self, keys: builtins.list[str]) -> None:
        self._volumes.delete(keys)
        touched: dict[str, None] = {}
        for key in keys:
            path = os.path.join(self._root, key)
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            directory = os.path.dirname(path)
            while directory != self._root:
                try:
                    os.rmdir(directory)
                except OSError:
                    break
                directory = os.path.dirname(directory)
            touched[directory] = None
        if self._fsync is FsyncPolicy.ALWAYS:
            # Otherwise a power loss could bring back objects whose deletion the caller has recorded.
            for directory in touched:
                with contextlib.suppress(FileNotFoundError):
                    fsync_directory(directory)

    def _list(self, prefix: str) -> builtins.list[str]:
        packed = [key for key in self._volumes.live_keys() if key.startswith(prefix)]
        return sorted({*self._list_files(prefix), *packed})

    def _list_files(self, prefix: str) -> builtins.list[str]:
        directory = prefix.rpartition("/")[0]
        if directory:
            try:
                validate_key(directory)
            except ValueError:
                return []  # no valid key starts with this prefix
        top = os.path.join(self._root, directory)
        keys = []
        for path, directories, files in os.walk(top, onerror=_raise_unless_missing):
            directories[:] = [name for name in directories if not name.startswith(".")]
            relative = os.path.relpath(path, self._root).replace(os.sep, "/")
            for name in files:
                if name.startswith("."):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return keys

    def _probe(self) -> None:
        temp = os.path.join(self._root, f".{secrets.token_hex(8)}{TEMP_SUFFIX}")
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        os.unlink(temp)

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path, directories, files in os.walk(self._root):
            directories[:] = [name for name in directories if not name.startswith(".")]
            for name in files:
                if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                    temp = os.path.join(path, name)
                    with contextlib.suppress(FileNotFoundError):
                        if os.stat(temp).st_mtime < cutoff:
                            os.unlink(temp)


def _link_new(temp: str, path: str) -> bool:
    """Hard-link `temp` to `path` and drop `temp`, unless `path` exists; whether it linked."""
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    os.unlink(temp)
    return True


def _raise_unless_missing(error: OSError) -> None:
    """os.walk's error handler: a folder that is gone (deleted meanwhile, or never made) just has no keys."""
    if not isinstance(error, FileNotFoundError | NotADirectoryError):
        raise error
