"""Background upkeep of the log: retention, compaction of flush objects into segments, garbage collection.

Order matters for safety: index rows are swapped or dropped in the metadata store first, and
an object is deleted only once no index row references it, so a crash between steps leaves
garbage (collected on a later pass), never an index row pointing at nothing.

A flush object whose put succeeded but whose commit failed (or never ran: the broker died) has
no object record at all. Such orphans are found by listing flush/ in the object store: one older
than `orphan_min_age_ms` (far longer than any put-then-commit can take) that the metadata store
does not know is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

from streamhouse.metadata.base import IndexEntry, MetadataStore
from streamhouse.storage.log import PartitionLog
from streamhouse.storage.objects.base import Buffer, ObjectStore

log = logging.getLogger(__name__)

FLUSH_PREFIX = "flush/"
SEGMENT_INDEX_BYTES = 1024 * 1024  # one index row per ~1 MiB of a segment
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
ENTRIES_PER_PASS = 10_000
# A flush's put and commit take seconds, minutes in an outage (retries); an hour also covers clock skew
# between the broker that named the object and the one collecting it.
ORPHAN_MIN_AGE_MS = 3_600_000


@dataclass(frozen=True)
class Retention:
    """A topic's retention.ms and retention.bytes; -1 keeps forever."""

    ms: int
    bytes: int


def segment_key(topic_id: UUID, partition: int, base_offset: int) -> str:
    """A new segment's name, unique: two brokers rewriting the same entries at once must not share one
    (the loser of the index swap deletes its object, which would then be the winner's)."""
    return f"topics/{topic_id}/{partition}/{base_offset:020d}-{uuid4().hex}.segment"


def flush_object_age_ms(object_key: str, now_ms: int) -> int:
    """Flush objects are named flush/<broker>/<epoch ms>-<sequence>.obj."""
    stamp = object_key.rsplit("/", 1)[-1].split("-", 1)[0]
    return now_ms - int(stamp) if stamp.isdigit() else 0


class Maintenance:
    def __init__(
        self,
        objects: ObjectStore,
        metadata: MetadataStore,
        partition_log: PartitionLog,
        orphan_min_age_ms: int = ORPHAN_MIN_AGE_MS,
    ) -> None:
        self.objects = objects
        self.metadata = metadata
        self.log = partition_log
        self.orphan_min_age_ms = orphan_min_age_ms

    async def apply_retention(self, topic_id: UUID, partition: int, retention: Retention, now_ms: int) -> int:
        """Advance the log start past whole index entries that retention drops; returns the new start."""
        state = await self.log.state(topic_id, partition)
        if retention.ms < 0 and retention.bytes < 0:
            return state.log_start_offset
        entries = await self.metadata.log.find_index(topic_id, partition, state.log_start_offset, ENTRIES_PER_PASS)
        new_start = state.log_start_offset
        remaining = sum(entry.length for entry in entries)
        for entry in entries:
            expired = retention.ms >= 0 and entry.max_timestamp < now_ms - retention.ms
            oversized = retention.bytes >= 0 and remaining > retention.bytes
            if not (expired or oversized):
                break
            new_start = entry.last_offset + 1
            remaining -= entry.length
        if new_start > state.log_start_offset:
            await self.log.set_log_start_offset(topic_id, partition, new_start)
            log.info("retention: %s/%d starts at %d", topic_id, partition, new_start)
        return new_start

    async def compact(self, topic_id: UUID, partition: int, min_age_ms: int, now_ms: int) -> int:
        """Rewrite runs of flush-object entries older than min_age_ms into segments; returns entries rewritten."""
        state = await self.log.state(topic_id, partition)
        entries = await self.metadata.log.find_index(topic_id, partition, state.log_start_offset, ENTRIES_PER_PASS)
        rewritten = 0
        run: list[IndexEntry] = []
        for entry in entries:
            eligible = (
                entry.object_key.startswith(FLUSH_PREFIX)
                and flush_object_age_ms(entry.object_key, now_ms) >= min_age_ms
            )
            # Offsets the log cleaner removed end a run: a segment's entries are patched run by run.
            follows = not run or run[-1].last_offset + 1 == entry.base_offset
            if eligible and follows and sum(item.length for item in run) + entry.length <= SEGMENT_MAX_BYTES:
                run.append(entry)
                continue
            rewritten += await self._write_segment(topic_id, partition, run)
            run = [entry] if eligible else []
        rewritten += await self._write_segment(topic_id, partition, run)
        return rewritten

    async def _write_segment(self, topic_id: UUID, partition: int, run: Sequence[IndexEntry]) -> int:
        if not run:
            return 0
        # As stored, not patched: reads patch offsets from the index rows, which name them.
        pieces: list[Buffer] = [await self.log.read_stored(entry) for entry in run]
        key = segment_key(topic_id, partition, run[0].base_offset)
        # The pieces as parts, not joined: a folder writes them where they are, with no copy of up to
        # SEGMENT_MAX_BYTES in fresh memory first (fresh pages cost system CPU, on a VM most of all).
        new_entries = _segment_entries(run, pieces, key)
        await self.objects.put(key, pieces)
        size = sum(len(piece) for piece in pieces)
        if not await self.metadata.log.replace_index(topic_id, partition, run, new_entries, key, size):
            # Retention or another broker changed these entries first; nothing references the segment.
            await self.objects.delete([key])
            log.info("compaction of %s/%d lost a race; its segment was discarded", topic_id, partition)
            return 0
        return len(run)

    async def collect_garbage(self, now_ms: int) -> int:
        """Delete objects no index row references, and orphaned flush objects; returns how many."""
        keys = await self.metadata.log.unreferenced_objects()
        if keys:
            await self.objects.delete(keys)
            await self.metadata.log.forget_objects(keys)
        return len(keys) + await self._collect_orphans(now_ms)

    async def _collect_orphans(self, now_ms: int) -> int:
        old_enough = [
            key
            for key in await self.objects.list(FLUSH_PREFIX)
            if flush_object_age_ms(key, now_ms) >= self.orphan_min_age_ms
        ]
        if not old_enough:
            return 0
        known = await self.metadata.log.known_objects(old_enough)
        orphans = [key for key in old_enough if key not in known]
        if orphans:
            await self.objects.delete(orphans)
            log.info("deleted %d flush objects that no commit recorded", len(orphans))
        return len(orphans)


def _segment_entries(run: Sequence[IndexEntry], pieces: Sequence[Buffer], key: str) -> list[IndexEntry]:
    """Group consecutive old entries into new rows of about SEGMENT_INDEX_BYTES each."""
    new_entries: list[IndexEntry] = []
    group: list[IndexEntry] = []
    group_start = position = 0
    for entry, piece in zip(run, pieces, strict=True):
        if not group:
            group_start = position
        group.append(entry)
        position += len(piece)
        if position - group_start >= SEGMENT_INDEX_BYTES:
            new_entries.append(_merged(group, key, group_start, position - group_start))
            group = []
    if group:
        new_entries.append(_merged(group, key, group_start, position - group_start))
    return new_entries


def _merged(group: Sequence[IndexEntry], key: str, position: int, length: int) -> IndexEntry:
    return IndexEntry(
        base_offset=group[0].base_offset,
        last_offset=group[-1].last_offset,
        object_key=key,
        position=position,
        length=length,
        max_timestamp=max(entry.max_timestamp for entry in group),
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
