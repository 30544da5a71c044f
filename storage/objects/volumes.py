"""Objects packed into append-only volume files: a put is one write and one fdatasync.

Why: a new file per object makes a small durable put several times dearer than an append to an
open file with fdatasync (inode allocation, directory entry, their synchronous writes, and on ext4
a CPU-bound scan of recently freed inodes; docs/performance.md). The partition log writes a
short-lived flush object several hundred times a second, so the folder store packs those
(FilesystemObjectStore's pack_prefix) and keeps long-lived objects as files.

Layout: `<root>/.volumes/<created ns>-<pid>-<life>.vol`, each a sequence of entries
`header | key | data`. The header holds a magic, a state byte (live or dead), the key and data
lengths, the volume's life (the 64 random bits its name ends with) and a CRC-32C of the lengths,
life and key (not the data: an entry is acknowledged only after its fdatasync, and one torn by a
crash was never acknowledged, so nothing names it). Deleting marks the entry dead in place.

A volume whose entries are all dead (or that holds no whole entry after SPARE_QUIET_SECONDS: its
writer died in its first put), once no writer holds it, is kept as a spare (renamed
`.spare`, up to SPARE_VOLUMES of them; the rest are unlinked) and later taken as a new volume
under a new name and life: overwriting blocks already written skips the block allocation and
journal commit of an append, which slow each fdatasync and cost the put thread kernel CPU.
Its old entries stay behind the new ones; a scan stops at the first entry
of another life, and every read and every dead mark checks that the entry is still of its life, so
a descriptor opened before the volume was recycled never reads or marks the new entries as old ones.
A spare is taken only after SPARE_QUIET_SECONDS, longer than such a check and its write take.

Several processes may share a folder (brokers over one PostgreSQL and one folder). Each writes
its own volume, holding an exclusive flock on it while it appends; a reader that misses a key
scans the volumes' new entries; the state byte is read on every get, so a deletion by another
process is seen at once. A key put by two processes at once is not supported (flush keys name
their broker); within a process a put replaces an earlier entry of the key.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import secrets
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import crc32c

from streamhouse.storage.objects.common import MAX_KEY_BYTES
from streamhouse.tracing import TRACE

VOLUME_DIRECTORY = ".volumes"
VOLUME_SUFFIX = ".vol"
SPARE_SUFFIX = ".spare"
VOLUME_BYTES = 64 * 1024 * 1024  # a volume takes entries until this size; a bigger entry gets one of its own
SPARE_VOLUMES = 16  # dead volumes kept to be written again, per folder (1 GiB of 64 MiB volumes)
SPARE_QUIET_SECONDS = 10.0
CACHED_VOLUMES = 3  # full volumes whose pages stay in the page cache, beside the one being written
IOV_MAX = os.sysconf("SC_IOV_MAX")  # buffers one pwritev takes
# Bytes one pwritev writes at most. A buffered write of 2 MiB or more (ext4 on kernel 6.18) puts the
# data in 2 MiB page-cache folios, and on a VM that hands free 2 MiB blocks back to its host (free page
# reporting) each such folio is memory the host must fault in again, several times the CPU of smaller
# calls (docs/performance.md). Compaction writes segments of up to 64 MiB, so it writes them in pieces.
WRITE_CALL_BYTES = 1024 * 1024
MAGIC = b"SHV2"
LIVE = b"L"
DEAD = b"D"
# magic, state, pad, key length, data length, life, CRC-32C of lengths, life and key
_HEADER = struct.Struct(">4scxHQQI")
_CRC = struct.Struct(">I")
_STATE_AT = 4
_CHECKED_AT = 6  # the CRC covers the header from here to the CRC, then the key
_LIFE_DIGITS = 16


@dataclass(frozen=True)
class Location:
    volume: str  # file name in the volume directory
    life: int  # of that name (life_of)
    entry_at: int
    data_at: int
    length: int


@dataclass(frozen=True)
class Entry:
    state: bytes
    key: bytes
    life: int
    data_at: int  # from the start of the entry
    length: int


class _Writer:
    """The volume this process appends to, and the puts still syncing it."""

    def __init__(self, name: str, life: int, fd: int) -> None:
        self.name = name
        self.life = life
        self.fd = fd
        self.position = 0
        self.syncing = 0
        self.retired = False


def life_of(volume: str) -> int:
    """The life a volume's name ends with."""
    return int(volume.rsplit("-", 1)[-1].removesuffix(VOLUME_SUFFIX), 16)


def entry_header(key: bytes, length: int, life: int) -> bytes:
    """The header and key of a live entry."""
    head = bytearray(_HEADER.pack(MAGIC, LIVE, len(key), length, life, 0))
    crc_at = _HEADER.size - 4
    _CRC.pack_into(head, crc_at, crc32c.crc32c(bytes(head[_CHECKED_AT:crc_at]) + key))
    return bytes(head) + key


def parse_entry(data: bytes) -> Entry | None:
    """The entry whose header and key start `data`; None if there is none."""
    if data[:4] != MAGIC or len(data) < _HEADER.size:
        return None
    _, state, key_length, length, life, crc = _HEADER.unpack_from(data)
    end = _HEADER.size + key_length
    if len(data) < end or crc != crc32c.crc32c(data[_CHECKED_AT : _HEADER.size - 4] + data[_HEADER.size : end]):
        return None
    return Entry(state, data[_HEADER.size : end], life, end, length)


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
        self._cached: collections.deque[str] = collections.deque()  # volumes this process filled, oldest first

    # -- writes ------------------------------------------------------------

    def put(self, key: str, parts: list[memoryview]) -> None:
        """Append an entry of the parts' concatenation (flat byte views) under `key`, durably if so opened."""
        encoded = key.encode()
        size = sum(len(part) for part in parts)
        with self._lock:
            writer = self._writer_for(_HEADER.size + len(encoded) + size)
            head = entry_header(encoded, size, writer.life)
            at = writer.position
            try:
                write_parts(writer.fd, [head, *parts], at)
            except BaseException:
                # Entries after a partial one could not be found by a scan: the next put starts a volume.
                self._retire(writer)
                raise
            writer.position += len(head) + size
            writer.syncing += 1
            self._scanned[writer.name] = writer.position
            location = Location(writer.name, writer.life, at, at + len(head), size)
            previous = self._index.get(key)
            self._index[key] = location
        try:
            if self._durable:
                # Entries are written in order under the lock, so this also covers every earlier one.
                TRACE.event("sync", key)
                os.fdatasync(writer.fd)
                TRACE.event("synced", key)
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
        self._uncache_old_volumes()

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
        life = _new_life()
        name = _name(life, VOLUME_SUFFIX)
        path = os.path.join(self._directory, name)
        fd = self._take_spare(path)
        if fd < 0:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            # Held while this process appends: no other process removes the volume meanwhile.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if self._durable:
            # Before the first put's fdatasync returns: a power loss must not leave its entry under a spare's name.
            fsync_directory(self._directory)
        self._scanned[name] = 0
        return _Writer(name, life, fd)

    def _take_spare(self, path: str) -> int:
        """A spare renamed to `path`, open and flocked; -1 if none is free and quiet."""
        quiet_since = time.time() - SPARE_QUIET_SECONDS
        for spare in sorted(self._listed(SPARE_SUFFIX)):
            spare_path = os.path.join(self._directory, spare)
            try:
                fd = os.open(spare_path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                # ctime: when it became a spare (the rename).
                if os.fstat(fd).st_ctime > quiet_since:
                    os.close(fd)
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(spare_path, path)
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)  # another process takes it
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd
        return -1

    def _listed(self, suffix: str) -> list[str]:
        try:
            return [name for name in os.listdir(self._directory) if name.endswith(suffix)]
        except FileNotFoundError:
            return []

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
            if self._durable:
                self._cached.append(writer.name)
            self._remove_if_dead(writer.name)

    def _uncache_old_volumes(self) -> None:
        """Drop the pages of the full volumes beyond the newest CACHED_VOLUMES from the page cache.

        Synced, they are clean: dropped, not written. Why: on a VM that hands free memory back to its
        host, filling a page the cache has never held costs system CPU, and the kernel gives back
        pages it just freed first; keeping every volume cached makes each append's cost depend on
        how much free memory the host has taken back (docs/performance.md). The
        price: a consumer farther behind than these volumes hold, and compaction, read from the disk
        (recent data is served by the partition log's tail cache first).
        """
        with self._lock:
            old = [self._cached.popleft() for _ in range(len(self._cached) - CACHED_VOLUMES)]
        for volume in old:
            try:
                fd = os.open(os.path.join(self._directory, volume), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # emptied and removed (or renamed a spare) already
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)

    def _mark_dead(self, locations: list[Location]) -> None:
        by_volume: dict[str, list[Location]] = {}
        for location in locations:
            by_volume.setdefault(location.volume, []).append(location)
        for volume, entries in by_volume.items():
            try:
                fd = os.open(os.path.join(self._directory, volume), os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # recycled or removed already: its entries were all dead
            try:
                for location, entry in zip(entries, _entries_at(fd, entries), strict=True):
                    if entry is not None:  # else dead, and the volume recycled since
                        os.pwrite(fd, DEAD, location.entry_at + _STATE_AT)
                if self._durable:
                    os.fdatasync(fd)  # else a power loss could bring back objects the caller deleted
            finally:
                os.close(fd)
            with self._lock:
                self._remove_if_dead(volume)

    def _remove_if_dead(self, volume: str) -> None:
        """Keep as a spare, or unlink, a volume holding entries, all dead, that no process appends to (lock held)."""
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
            states = [entry.state for _, entry in _entries(fd, 0, life_of(volume))]
            status = os.fstat(fd)
            # A volume without entries may be one a writer just created and has not locked yet; an
            # older one holds nothing (its writer died before its first entry was whole).
            if LIVE in states or (not states and status.st_ctime > time.time() - SPARE_QUIET_SECONDS):
                return
            if status.st_size <= self._volume_bytes and len(self._listed(SPARE_SUFFIX)) < SPARE_VOLUMES:
                os.rename(path, os.path.join(self._directory, _name(_new_life(), SPARE_SUFFIX)))
            else:
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
            stop = location.length if end is None else min(end, location.length)
            # Live before the read, and still after it: the volume was not recycled in between
            # (a live entry is not; a dead one never turns live again in the same life).
            if _is_live(fd, location):
                data = read_range(fd, location.data_at + start, location.data_at + stop)
                if _is_live(fd, location):
                    return data
            self._forget(key, location)  # deleted by another process
            return None
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
        names = sorted(self._listed(VOLUME_SUFFIX))
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
            life = life_of(volume)
            for entry_at, entry in _entries(fd, position, life):
                data_at = entry_at + entry.data_at
                if entry.state == LIVE:
                    self._index[entry.key.decode()] = Location(volume, life, entry_at, data_at, entry.length)
                position = data_at + entry.length
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


def _entries(fd: int, position: int, life: int) -> list[tuple[int, Entry]]:
    """(start, entry) of the whole entries of `life` from `position` on; stops at a torn or partial one,
    or at one of another life (what a recycled volume holds beyond its new entries)."""
    size = os.fstat(fd).st_size
    found = []
    while True:
        entry = _read_entry(fd, position)
        if entry is None or entry.life != life:
            break
        end = position + entry.data_at + entry.length
        if end > size:
            break  # still being written, or torn by a crash
        found.append((position, entry))
        position = end
    return found


def _entries_at(fd: int, locations: list[Location]) -> list[Entry | None]:
    """The entry at each location if it is still there (its life); None where the volume was recycled since."""
    found = []
    for location in locations:
        entry = _read_entry(fd, location.entry_at)
        found.append(entry if entry is not None and entry.life == location.life else None)
    return found


def _is_live(fd: int, location: Location) -> bool:
    entry = _entries_at(fd, [location])[0]
    return entry is not None and entry.state == LIVE


def _read_entry(fd: int, position: int) -> Entry | None:
    return parse_entry(os.pread(fd, _HEADER.size + MAX_KEY_BYTES, position))  # a header and its key at once


def _new_life() -> int:
    return secrets.randbits(4 * _LIFE_DIGITS)


def _name(life: int, suffix: str) -> str:
    return f"{time.time_ns():020d}-{os.getpid()}-{life:0{_LIFE_DIGITS}x}{suffix}"


def write_parts(fd: int, parts: Sequence[bytes | memoryview], at: int) -> None:
    """Write the parts' concatenation at `at`: a pwritev per call of write_calls, then the rest of a short write."""
    for call in write_calls(parts):
        total = sum(len(piece) for piece in call)
        written = os.pwritev(fd, call, at)
        if written < total:
            rest = memoryview(b"".join(call))[written:]
            position = at + written
            while rest:
                count = os.pwrite(fd, rest, position)
                rest, position = rest[count:], position + count
        at += total


def write_calls(parts: Sequence[bytes | memoryview]) -> list[list[memoryview]]:
    """The parts as the buffers of successive pwritev calls: at most IOV_MAX buffers and WRITE_CALL_BYTES
    per call, each call filled before the next starts (a part cut where a call is full). Empty parts are
    left out."""
    calls: list[list[memoryview]] = []
    call: list[memoryview] = []
    size = 0
    for part in parts:
        view = memoryview(part)
        while view:
            if size == WRITE_CALL_BYTES or len(call) == IOV_MAX:
                calls.append(call)
                call, size = [], 0
            piece = view[: WRITE_CALL_BYTES - size]
            call.append(piece)
            size += len(piece)
            view = view[len(piece) :]
    if call:
        calls.append(call)
    return calls


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
