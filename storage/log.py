"""The partition log over object storage: one front over its writer, its reader and its partition watcher.

- storage.writer.LogWriter: the write buffer, flushes as objects and their commits in flush order,
  through a commit strategy (storage.commit);
- storage.reader.LogReader: reads, through the tail, index, range and disk caches, with read-ahead;
- storage.watcher.PartitionWatcher: each partition's cached state, long polls, and the metadata
  store's change reports (other brokers' commits).
A commit moves the partition's state, adds its batches to the tail cache and wakes its long polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

from streamhouse.metadata.base import AppendResult, IndexEntry, MetadataStore, PartitionState
from streamhouse.protocol.records import BatchHeader
from streamhouse.storage.caches import PartitionKey
from streamhouse.storage.commit import CommitStrategy, PutThenCommit
from streamhouse.storage.diskcache import DiskRangeCache
from streamhouse.storage.objects.base import ObjectStore
from streamhouse.storage.reader import LEADER_EPOCH, LogReader, patch_offsets
from streamhouse.storage.stats import LogStats
from streamhouse.storage.watcher import PartitionWatcher
from streamhouse.storage.writer import LogWriter, StorageError

__all__ = ["LEADER_EPOCH", "PartitionKey", "PartitionLog", "StorageError", "patch_offsets"]


class PartitionLog:
    """All partitions' logs as one broker sees them."""

    def __init__(
        self,
        objects: ObjectStore,
        metadata: MetadataStore,
        *,
        broker_id: int,
        flush_ms: int,
        flush_bytes: int,
        tail_cache_bytes: int,
        object_cache_bytes: int,
        flushes_in_flight: int = 4,
        read_ahead_bytes: int = 0,
        disk_cache: DiskRangeCache | None = None,
        commits: CommitStrategy | None = None,
    ) -> None:
        """`commits` defaults to PutThenCommit over these stores."""
        self.stats = LogStats()
        states: dict[PartitionKey, PartitionState] = {}
        self.reader = LogReader(
            objects,
            metadata.log,
            states,
            self.stats,
            tail_cache_bytes=tail_cache_bytes,
            object_cache_bytes=object_cache_bytes,
            read_ahead_bytes=read_ahead_bytes,
            disk_cache=disk_cache,
        )
        self.watcher = PartitionWatcher(metadata.log, metadata.cluster, states, self.reader)
        self.writer = LogWriter(
            commits or PutThenCommit(objects, metadata.log),
            self.stats,
            self._committed,
            broker_id=broker_id,
            flush_ms=flush_ms,
            flush_bytes=flush_bytes,
            flushes_in_flight=flushes_in_flight,
        )

    def start(self) -> None:
        self.watcher.start()
        self.writer.start()

    def flush_immediately(self) -> None:
        """Stop waiting for flush.ms: flush what is pending now and every later append at once."""
        self.writer.flush_immediately()

    @property
    def flush_ms(self) -> int:
        return self.writer.flush_ms

    @flush_ms.setter
    def flush_ms(self, value: int) -> None:
        self.writer.flush_ms = value

    async def close(self) -> None:
        """Flush what is pending, then stop."""
        await self.writer.close()
        self.watcher.close()
        await self.reader.close()

    def append(
        self, topic_id: UUID, partition: int, data: bytes | memoryview, header: BatchHeader, marker: int = -1
    ) -> asyncio.Future[AppendResult]:
        """Queue one validated batch (or a transaction marker); the future resolves once it is committed (or fails)."""
        return self.writer.append(topic_id, partition, data, header, marker)

    def _committed(
        self, key: PartitionKey, base_offset: int, last_offset: int, log_start_offset: int, data: bytes | memoryview
    ) -> None:
        self.watcher.advance(key, log_start_offset, last_offset + 1)
        self.reader.add_tail(key, base_offset, last_offset, patch_offsets(data, base_offset))
        self.watcher.wake(key)

    async def state(self, topic_id: UUID, partition: int) -> PartitionState:
        """Log start offset and high watermark of a partition."""
        return await self.watcher.state(topic_id, partition)

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        return await self.watcher.set_log_start_offset(topic_id, partition, offset)

    def forget_topic(self, topic_id: UUID) -> None:
        """Drop cached state of a deleted topic."""
        self.watcher.forget_topic(topic_id)

    async def wait_for_append(self, keys: Iterable[PartitionKey], timeout: float) -> None:
        """Return when any of the partitions gets a commit, or after `timeout` seconds."""
        await self.watcher.wait_for_append(keys, timeout)

    async def read(
        self, topic_id: UUID, partition: int, offset: int, max_bytes: int, first_whole: bool = True
    ) -> list[bytes]:
        """Batches from the one holding `offset` on, patched, up to max_bytes.

        With first_whole, the first batch comes even when it alone exceeds max_bytes.
        """
        return await self.reader.read(topic_id, partition, offset, max_bytes, first_whole)

    def missing_objects(self) -> dict[PartitionKey, IndexEntry]:
        """Partitions with an index entry whose object the store does not have, as their reads last found."""
        return dict(self.reader.missing)

    async def read_entry(self, entry: IndexEntry) -> bytes:
        """The batches of one index entry, patched with their offsets."""
        return await self.reader.read_entry(entry)

    async def read_stored(self, entry: IndexEntry) -> bytes:
        """The batches of one index entry as stored: their base offsets are whatever they arrived with."""
        return await self.reader.read_stored(entry)

    def cache_sizes(self) -> dict[str, int]:
        """Bytes held by each read cache."""
        return self.reader.cache_sizes()
