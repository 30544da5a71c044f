"""The partition log's index, read for answers the log does not cache: offsets by timestamp
(ListOffsets) and bytes stored per partition (DescribeLogDirs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhouse.protocol.records import iter_batches, iter_records

if TYPE_CHECKING:
    from uuid import UUID

    from streamhouse.metadata.base import IndexEntry, MetadataStore
    from streamhouse.storage.log import PartitionLog

# Index entries read per query while looking for one that reaches a timestamp.
ENTRIES_PER_QUERY = 64
NOT_FOUND = (-1, -1)


class LogIndex:
    """Records found by timestamp: the index narrows the search to an entry, its records give the answer."""

    def __init__(self, metadata: MetadataStore, log: PartitionLog) -> None:
        self.metadata = metadata
        self.log = log

    async def offset_at_timestamp(
        self, topic_id: UUID, partition: int, timestamp: int, log_start: int
    ) -> tuple[int, int]:
        """(offset, timestamp) of the first record at or after `timestamp`; (-1, -1) if none."""
        entry = await self.metadata.log.find_by_timestamp(topic_id, partition, timestamp)
        while entry is not None:
            found = await self._first_record_at(entry, timestamp, log_start, exact=False)
            if found != NOT_FOUND:
                return found
            # Only an entry straddling the log start can come up empty: its matches were deleted.
            entry = await self._next_entry_reaching(topic_id, partition, entry.last_offset + 1, timestamp)
        return NOT_FOUND

    async def offset_of_max_timestamp(self, topic_id: UUID, partition: int, log_start: int) -> tuple[int, int]:
        """(offset, timestamp) of the first record with the partition's largest timestamp; (-1, -1) if none."""
        entry = await self.metadata.log.max_timestamp_entry(topic_id, partition)
        if entry is None:
            return NOT_FOUND
        return await self._first_record_at(entry, entry.max_timestamp, log_start, exact=True)

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        """Bytes stored per partition; partitions without records are absent."""
        return await self.metadata.log.partition_sizes(topic_id)

    async def _next_entry_reaching(
        self, topic_id: UUID, partition: int, from_offset: int, timestamp: int
    ) -> IndexEntry | None:
        """The first index entry at or after from_offset whose max timestamp is >= timestamp."""
        while True:
            entries = await self.metadata.log.find_index(topic_id, partition, from_offset, ENTRIES_PER_QUERY)
            if not entries:
                return None
            for entry in entries:
                if entry.max_timestamp >= timestamp:
                    return entry
            from_offset = entries[-1].last_offset + 1

    async def _first_record_at(self, entry: IndexEntry, target: int, log_start: int, exact: bool) -> tuple[int, int]:
        """The first record of an index entry whose timestamp is >= target (== target when exact)."""
        data = await self.log.read_entry(entry)
        for header, batch in iter_batches(data, verify_crc=False):
            if header.max_timestamp < target:
                continue
            for record in iter_records(header, batch):
                if record.offset < log_start:
                    continue
                if record.timestamp == target or (not exact and record.timestamp > target):
                    return record.offset, record.timestamp
        return NOT_FOUND
