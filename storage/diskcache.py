"""An on-disk cache of object ranges, between the in-memory LRU and the object store.

Objects are immutable and a range is named by (object key, position, length), so a cached range is
never stale: at worst it belongs to an object since deleted, and then nothing asks for it again and
it ages out. The cache survives restarts: at start-up the folder's files are taken back, least
recently used first by modification time (a hit touches its file). Files are written to a temporary
name and renamed, so a crash leaves whole files or leftovers that the next start-up removes; a file
whose size is not the length its name says is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

RangeKey = tuple[str, int, int]  # object key, position, length
_SUFFIX = ".range"
_PARTIAL = ".partial"


def _file_name(key: RangeKey) -> str:
    object_key, position, length = key
    digest = hashlib.sha256(f"{object_key}\0{position}".encode()).hexdigest()[:40]
    return f"{digest}-{length}{_SUFFIX}"


class DiskRangeCache:
    """Object ranges as files in `folder`, at most `max_bytes` in all, the least recently used evicted first."""

    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("the disk cache needs a positive size bound")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._files: OrderedDict[str, int] = OrderedDict()  # file name -> size, least recently used first
        self._load()

    def _load(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        found: list[tuple[float, str, int]] = []
        for entry in os.scandir(self.folder):
            if not entry.is_file():
                continue
            stat = entry.stat()
            if entry.name.endswith(_SUFFIX) and _valid_size(entry.name, stat.st_size):
                found.append((stat.st_mtime, entry.name, stat.st_size))
            else:  # a write cut short by a crash, or not ours to keep
                Path(entry.path).unlink(missing_ok=True)
        for _, name, size in sorted(found):
            self._files[name] = size
            self.size += size
        self._evict()
        log.info("disk cache %s: %d ranges, %d bytes", self.folder, len(self._files), self.size)

    async def get(self, key: RangeKey) -> bytes | None:
        name = _file_name(key)
        if name not in self._files:
            self.misses += 1
            return None
        self._files.move_to_end(name)
        data = await asyncio.to_thread(self._read, self.folder / name)
        if data is None or len(data) != key[2]:
            self._forget(name)
            self.misses += 1
            return None
        self.hits += 1
        return data

    async def put(self, key: RangeKey, data: bytes) -> None:
        name = _file_name(key)
        if len(data) > self.max_bytes or name in self._files:
            return
        try:
            await asyncio.to_thread(self._write, self.folder / name, data)
        except OSError as exc:  # a full or failing disk makes a cache miss, not a failed read
            log.warning("disk cache %s: cannot write a range: %s", self.folder, exc)
            return
        if name in self._files:  # another put of the same range finished first
            return
        self._files[name] = len(data)
        self.size += len(data)
        self._evict()

    def _evict(self) -> None:
        while self.size > self.max_bytes and self._files:
            name, size = self._files.popitem(last=False)
            self.size -= size
            (self.folder / name).unlink(missing_ok=True)

    def _forget(self, name: str) -> None:
        size = self._files.pop(name, None)
        if size is not None:
            self.size -= size
            (self.folder / name).unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            data = path.read_bytes()
            os.utime(path)  # recency, for the order at the next start-up
        except OSError:
            return None
        return data

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        partial = path.with_name(path.name + _PARTIAL)
        partial.write_bytes(data)
        partial.replace(path)


def _valid_size(name: str, size: int) -> bool:
    """Whether a file holds as many bytes as its name says: else a write was cut short."""
    length = name.removesuffix(_SUFFIX).rpartition("-")[2]
    return length.isdigit() and int(length) == size
