"""Objects packed into append-only volume files: a put is one write and one fdatasync.

Why: on this project's machines a new file per object cost 1.1-1.6 ms per small durable put
(inode allocation, directory entry, their synchronous writes, and on ext4 a CPU-bound scan of
recently freed inodes), an append to an open file with fdatasync 0.2-0.4 ms. The partition
log writes a short-lived flush object several hundred times a second, so the folder store packs
those (FilesystemObjectStore's pack_prefix) and keeps long-lived objects as files.

Layout: `<root>/.volumes/<created ns>-<pid>-<random>.vol`, each a sequence of entries
`header | key | data`. The header holds a magic, a state byte (live or dead), the key and data
lengths and a CRC-32C of the lengths and key (not the data: an entry is acknowledged only after
its fdatasync, and one torn by a crash was never acknowledged, so nothing names it). Deleting
marks the entry dead in place; a volume whose entries are all dead is unlinked once no writer
holds it.

Several processes may share a folder (brokers over one PostgreSQL and one folder). Each writes
its own volume, holding an exclusive flock on it while it appends; a reader that misses a key
scans the volumes' new entries; the state byte is read on every get, so a deletion by another
process is seen at once. A key put by two processes at once is not supported (flush keys name
their broker); within a process a put replaces an earlier entry of the key.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import threading
import time
from dataclasses import dataclass

import crc32c

from storage.objects.common import MAX_KEY_BYTES

VOLUME_DIRECTORY = ".volumes"
VOLUME_SUFFIX = ".vol"
VOLUME_BYTES = 64 * 1024 * 1024  # a volume takes entries until this size; a bigger entry gets one of its own
MAGIC = b"SHV1"
LIVE = b"L"
DEAD = b"D"
_HEADER = struct.Struct(">4scxHQI")  # magic, state, pad, key length, data length, CRC-32C of lengths and key
_CRC = struct.Struct(">I")
_STATE_AT = 4
_CHECKED_AT = 6  # the CRC covers the header from here to the CRC, then the key
_CRC_AT = _HEADER.size - 4


@dataclass(frozen=True)
class Location:
    volume: str  # file name in the volume directory
    entry_at: int
    data_at: int
    length: int


class _Writer:
    """The volume this process appends to, and the puts still syncing it."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.fd = fd
        self.position = 0
        self.syncing = 0
        self.retired = False


def entry_header(key: bytes, length: int) -> bytes:
    """The header and key of a live entry."""
    head = bytearray(_HEADER.pack(MAGIC, LIVE, len(key), length, 0))
    _CRC.pack_into(head, _CRC_AT, crc32c.crc32c(bytes(head[_CHECKED_AT:_CRC_AT]) + key))
    return bytes(head) + key


def parse_entry(data: bytes) -> tuple[bytes, bytes, int] | None:
    """(state, key, data length) of the entry whose header and key start `data`; None if there is none."""
    if len(data) < _HEADER.size:
        return None
    magic, state, key_length, length, crc = _HEADER.unpack_from(data)
    end = _HEADER.size + key_length
    if magic != MAGIC or len(data) < end or crc != crc32c.crc32c(data[_CHECKED_AT:_CRC_AT] + data[_HEADER.size : end]):
        return None
    return state, data[_HEADER.size : end], length


class Volumes:
    """The packed objects of one folder, as this process sees them. Every method may block: run them in threads."""

    def __init__(self, root: str, durable: bool, volume_bytes: int = VOLUME_BYTES) -> None:
        self._root = root
        self._directory = os.path.join(root, VOLUME_DIRECTORY)
        self._durable = durable
        self._volume_bytes = volume_bytes
        self._lock = threading.Lock()
        self._index: dict[str, Location] = {}
        self._scanned: dict[str, int] = {}  # volume name -> bytes of it read into the index
        self._writer: _Writer | None = None

    # -- writes ------------------------------------------------------------

    def put(self, key: str, data: memoryview) -> None:
        head = entry_header(key.encode(), len(data))
        with self._lock:
            writer = self._writer_for(len(head) + len(data))
            at = writer.position
            try:
                _write_fully(writer.fd, [head, data], at)
            except BaseException:
                # Entries after a partial one could not be found by a scan: the next put starts a volume.
                self._retire(writer)
                raise
            writer.position += len(head) + len(data)
            writer.syncing += 1
            self._scanned[writer.name] = writer.position
            location = Location(writer.name, at, at + len(head), len(data))
            previous = self._index.get(key)
            self._index[key] = location
        try:
            if self._durable:
                # Entries are written in order under the lock, so this also covers every earlier one.
                os.fdatasync(writer.fd)
        except BaseException:
            # Whether the entry reached the disk is unknown: it must not replace the previous one.
            with contextlib.suppress(OSError):
                os.pwrite(writer.fd, DEAD, at + _STATE_AT)
            with self._lock:
                if self._index.get(key) == location:
                    if previous is None:
                        del self._index[key]
                    else:
                        self._index[key] = previous
                self._retire(writer)
            raise
        finally:
            with self._lock:
                writer.syncing -= 1
                self._close_if_done(writer)
        if previous is not None:
            self._mark_dead([previous])

    def delete(self, keys: list[str]) -> None:
        """Mark the entries of `keys` dead; volumes left with no live entry and no writer are removed."""
        with self._lock:
            found = [self._index.pop(key) for key in keys if key in self._index]
        if len(found) < len(keys):
            self.refresh()
            with self._lock:
                found += [self._index.pop(key) for key in keys if key in self._index]
        self._mark_dead(found)

    def _writer_for(self, size: int) -> _Writer:
        writer = self._writer
        if writer is not None and writer.position > 0 and writer.position + size > self._volume_bytes:
            self._retire(writer)
            writer = None
        if writer is None:
            writer = self._writer = self._create_volume()
        return writer

    def _create_volume(self) -> _Writer:
        # mkdir, not makedirs: a root that is gone makes the put fail, as for objects kept as files.
        with contextlib.suppress(FileExistsError):
            os.mkdir(self._directory)
            if self._durable:
                fsync_directory(self._root)
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{VOLUME_SUFFIX}"
        fd = os.open(os.path.join(self._directory, name), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        # Held while this process appends: no other process removes the volume meanwhile.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if self._durable:
            fsync_directory(self._directory)
        self._scanned[name] = 0
        return _Writer(name, fd)

    def _retire(self, writer: _Writer) -> None:
        """Stop appending to a volume (call with the lock held); closed once its puts are synced."""
        writer.retired = True
        if self._writer is writer:
            self._writer = None
        self._close_if_done(writer)

    def _close_if_done(self, writer: _Writer) -> None:
        if writer.retired and writer.syncing == 0 and writer.fd >= 0:
            os.close(writer.fd)  # releases the flock
            writer.fd = -1
            self._remove_if_dead(writer.name)

    def _mark_dead(self, locations: list[Location]) -> None:
        by_volume: dict[str, list[Location]] = {}
        for location in locations:
            by_volume.setdefault(location.volume, []).append(location)
        for volume, entries in by_volume.items():
            try:
                fd = os.open(os.path.join(self._directory, volume), os.O_WRONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # removed already: its entries were all dead
            try:
                for location in entries:
                    os.pwrite(fd, DEAD, location.entry_at + _STATE_AT)
                if self._durable:
                    os.fdatasync(fd)  # else a power loss could bring back objects the caller deleted
            finally:
                os.close(fd)
            with self._lock:
                self._remove_if_dead(volume)

    def _remove_if_dead(self, volume: str) -> None:
        """Unlink a volume that holds entries, all dead, and that no process appends to (lock held)."""
        if self._writer is not None and self._writer.name == volume:
            return
        path = os.path.join(self._directory, volume)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self._forget_volume(volume)
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a writer still appends to it
            states = [state for state, _, _, _ in _entries(fd, 0)]
            # An empty volume may be one a writer just created and has not locked yet.
            if not states or LIVE in states:
                return
            os.unlink(path)
            if self._durable:
                fsync_directory(self._directory)
            self._forget_volume(volume)
        finally:
            os.close(fd)

    def _forget_volume(self, volume: str) -> None:
        self._scanned.pop(volume, None)
        for key in [key for key, location in self._index.items() if location.volume == volume]:
            del self._index[key]

    # -- reads -------------------------------------------------------------

    def read(self, key: str, start: int, end: int | None) -> bytes | None:
        """The bytes [start, end) of a packed object, cut short at its end; None if this process knows no such entry."""
        with self._lock:
            location = self._index.get(key)
        if location is None:
            return None
        try:
            fd = os.open(os.path.join(self._directory, location.volume), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self._forget(key, location)
            return None
        try:
            if os.pread(fd, 1, location.entry_at + _STATE_AT) != LIVE:
                self._forget(key, location)  # deleted by another process
                return None
            stop = location.length if end is None else min(end, location.length)
            return read_range(fd, location.data_at + start, location.data_at + stop)
        finally:
            os.close(fd)

    def _forget(self, key: str, location: Location) -> None:
        with self._lock:
            if self._index.get(key) == location:
                del self._index[key]

    def live_keys(self) -> list[str]:
        """Every live packed key, after reading what other processes appended."""
        self.refresh()
        with self._lock:
            return list(self._index)

    def refresh(self) -> None:
        """Read the entries appended since the last look, by any process, into the index."""
        try:
            names = sorted(name for name in os.listdir(self._directory) if name.endswith(VOLUME_SUFFIX))
        except FileNotFoundError:
            names = []
        with self._lock:
            for gone in set(self._scanned) - set(names):
                self._forget_volume(gone)
            for name in names:
                self._scan(name)

    def _scan(self, volume: str) -> None:
        try:
            fd = os.open(os.path.join(self._directory, volume), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self._forget_volume(volume)
            return
        try:
            position = self._scanned.get(volume, 0)
            for state, key, entry_at, end in _entries(fd, position):
                if state == LIVE:
                    data_at = entry_at + _HEADER.size + len(key)
                    self._index[key.decode()] = Location(volume, entry_at, data_at, end - data_at)
                position = end
            self._scanned[volume] = position
        finally:
            os.close(fd)

    def sweep(self) -> None:
        """Remove the volumes whose entries are all dead and that no process appends to (at start-up)."""
        self.refresh()
        with self._lock:
            for volume in list(self._scanned):
                self._remove_if_dead(volume)

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._retire(self._writer)


def _entries(fd: int, position: int) -> list[tuple[bytes, bytes, int, int]]:
    """(state, key, entry start, entry end) of the whole entries from `position` on; stops at a torn or partial one."""
    size = os.fstat(fd).st_size
    found = []
    while True:
        parsed = parse_entry(os.pread(fd, _HEADER.size + MAX_KEY_BYTES, position))  # a header and its key at once
        if parsed is None:
            break
        state, key, length = parsed
        end = position + _HEADER.size + len(key) + length
        if end > size:
            break  # still being written, or torn by a crash
        found.append((state, key, position, end))
        position = end
    return found


def _write_fully(fd: int, parts: list[bytes | memoryview], at: int) -> None:
    written = os.pwritev(fd, parts, at)
    total = sum(len(part) for part in parts)
    if written < total:
        rest = memoryview(b"".join(parts))[written:]
        at += written
        while rest:
            count = os.pwrite(fd, rest, at)
            rest, at = rest[count:], at + count


def read_range(fd: int, start: int, stop: int) -> bytes:
    """The bytes [start, stop) of an open file, cut short at its end."""
    chunks = []
    position = start
    while position < stop:
        chunk = os.pread(fd, stop - position, position)
        if not chunk:
            break
        chunks.append(chunk)
        position += len(chunk)
    return b"".join(chunks)


def fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
