"""The share-partitions this broker serves, their store writes, and the members' share sessions.

A share-partition is loaded from the metadata store (share_states role) the first time a fetch of
its group touches it, or created at the partition's high watermark (share.auto.offset.reset latest)
or log start (earliest), and written back after every change of its window or acknowledged records,
before the answer, so an acknowledgement the client saw answered survives a restart and is seen by
the broker that serves the partition next. Acquisitions are not written: a lock dies with its broker.

A share session (ShareFetch epoch 0 opens one, -1 closes it, each request increments it) remembers
the partitions a member fetches, so later requests name only what they add or forget. Closing it,
or the member leaving its group, releases the records the member holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from streamhouse.broker.share.configs import ShareGroupConfigs, ShareSettings
from streamhouse.broker.share.partition import Acquired, InvalidRecordStateError, RecordState, SharePartition
from streamhouse.metadata.base import MetadataStore, SharePartitionDocument
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.groups.clock import Clock

PartitionKey = tuple[UUID, int]
MAX_GROUPS_MEASURED = 1000  # share group ids are metric labels: a bound on the series they can make
CLOSE_SESSION_EPOCH = -1


@dataclass
class ShareSession:
    epoch: int
    partitions: list[PartitionKey] = field(default_factory=list)


@dataclass(frozen=True)
class ShareStats:
    """Per share group: its records in flight by state, and the records acquired, redelivered and archived."""

    in_flight: dict[str, dict[RecordState, int]]
    delivered: dict[str, int]
    redelivered: dict[str, int]
    archived: dict[str, int]


class SessionError(Exception):
    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


class SharePartitions:
    def __init__(self, store: MetadataStore, clock: Clock, defaults: ShareSettings) -> None:
        self.store = store
        self.clock = clock
        self.configs = ShareGroupConfigs(store, defaults)
        self.partitions: dict[tuple[str, UUID, int], SharePartition] = {}
        self.sessions: dict[tuple[str, str], ShareSession] = {}
        self._loaded_groups: dict[str, asyncio.Future[None]] = {}
        self._save_locks: dict[tuple[str, UUID, int], asyncio.Lock] = {}
        self.delivered: Counter[str] = Counter()  # records acquired per group, redeliveries included
        self.redelivered: Counter[str] = Counter()
        self.archived: Counter[str] = Counter()

    async def settings(self, group_id: str) -> ShareSettings:
        """The group's settings: its group configs over the broker's defaults."""
        return await self.configs.settings(group_id)

    # -- sessions --------------------------------------------------------------------

    def open_session(
        self, group_id: str, member_id: str, epoch: int, added: list[PartitionKey], forgotten: list[PartitionKey]
    ) -> list[PartitionKey]:
        """Check the request's session epoch and return the session's partitions after it."""
        key = (group_id, member_id)
        if epoch == 0:
            self.sessions[key] = ShareSession(1, list(dict.fromkeys(added)))
            return self.sessions[key].partitions
        session = self.sessions.get(key)
        if session is None:
            raise SessionError(ErrorCode.SHARE_SESSION_NOT_FOUND)
        if epoch == CLOSE_SESSION_EPOCH:
            del self.sessions[key]
            return []
        if epoch != session.epoch:
            raise SessionError(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        session.epoch = epoch + 1 if epoch < 2**31 - 1 else 1
        kept = [p for p in session.partitions if p not in set(forgotten)]
        session.partitions = list(dict.fromkeys([*kept, *added]))
        return session.partitions

    def check_session(self, group_id: str, member_id: str, epoch: int) -> None:
        """ShareAcknowledge: the epoch must be the session's (and moves it on), or -1 to close it."""
        key = (group_id, member_id)
        session = self.sessions.get(key)
        if epoch == 0:
            raise SessionError(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        if session is None:
            raise SessionError(ErrorCode.SHARE_SESSION_NOT_FOUND)
        if epoch == CLOSE_SESSION_EPOCH:
            del self.sessions[key]
        elif epoch != session.epoch:
            raise SessionError(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        else:
            session.epoch += 1

    # -- state -----------------------------------------------------------------------

    async def load_group(self, group_id: str, settings: ShareSettings) -> None:
        """Read the group's stored share-partitions once (concurrent callers wait for the same read)."""
        loading = self._loaded_groups.get(group_id)
        if loading is None:
            loading = self._loaded_groups[group_id] = asyncio.get_running_loop().create_future()
            try:
                for document in await self.store.share_states.list_share_states(group_id):
                    key = (group_id, document.topic_id, document.partition)
                    self.partitions.setdefault(
                        key, SharePartition.from_document(document.state, settings.delivery_limit)
                    )
                loading.set_result(None)
            except BaseException as failed:
                del self._loaded_groups[group_id]
                loading.set_exception(failed)
                raise
        await asyncio.shield(loading)

    async def partition(
        self, group_id: str, topic_id: UUID, partition: int, settings: ShareSettings, log_start: int, high: int
    ) -> SharePartition:
        await self.load_group(group_id, settings)
        key = (group_id, topic_id, partition)
        share = self.partitions.get(key)
        if share is None:
            start = log_start if settings.auto_offset_reset == "earliest" else high
            share = self.partitions[key] = SharePartition(start, settings.delivery_limit)
            await self.save(group_id, topic_id, partition)
        share.delivery_limit = settings.delivery_limit
        if share.start_offset < log_start:  # retention removed records the group never finished
            share.records = {o: r for o, r in share.records.items() if o >= log_start}
            share.start_offset = log_start
            share.end_offset = max(share.end_offset, log_start)
        return share

    async def save(self, group_id: str, topic_id: UUID, partition: int) -> None:
        """Write the share-partition's state; writes of one partition never overtake each other."""
        key = (group_id, topic_id, partition)
        lock = self._save_locks.setdefault(key, asyncio.Lock())
        async with lock:
            share = self.partitions.get(key)
            if share is not None:
                await self.store.share_states.save_share_state(
                    SharePartitionDocument(group_id, topic_id, partition, share.document())
                )

    def acquire(
        self,
        share: SharePartition,
        group_id: str,
        member_id: str,
        first: int,
        last: int,
        max_records: int,
        lock_ms: int,
    ) -> list[Acquired]:
        runs = share.acquire(member_id, first, last, max_records, self.clock.now_ms(), lock_ms)
        for run in runs:
            count = run.last_offset - run.first_offset + 1
            self.delivered[group_id] += count
            if run.delivery_count > 1:
                self.redelivered[group_id] += count
        return runs

    def archive(self, share: SharePartition, group_id: str, first: int, last: int) -> None:
        self.archived[group_id] += share.archive(first, last)

    async def acknowledge(
        self, group_id: str, member_id: str, topic_id: UUID, partition: int, batches: list[tuple[int, int, list[int]]]
    ) -> ErrorCode:
        """Apply a partition's acknowledgement batches and store the result; INVALID_RECORD_STATE for a bad one."""
        share = self.partitions.get((group_id, topic_id, partition))
        if share is None:
            return ErrorCode.INVALID_RECORD_STATE
        error = ErrorCode.NONE
        for first, last, types in batches:
            try:
                changed = share.acknowledge(member_id, first, last, types, self.clock.now_ms())
            except InvalidRecordStateError:
                error = ErrorCode.INVALID_RECORD_STATE
                continue
            self.archived[group_id] += changed.get(RecordState.ARCHIVED, 0)
        await self.save(group_id, topic_id, partition)
        return error

    async def release_member(self, group_id: str, member_id: str, end_session: bool = False) -> None:
        """Release what the member holds; a member removed (not one leaving, which closes it) ends its session."""
        if end_session:
            self.sessions.pop((group_id, member_id), None)
        for (group, topic_id, partition), share in list(self.partitions.items()):
            if group == group_id and share.release_member(member_id):
                await self.save(group, topic_id, partition)

    def next_lock_expiry_ms(self, keys: list[tuple[str, UUID, int]]) -> int | None:
        deadlines = [
            record.deadline_ms
            for key in keys
            if (share := self.partitions.get(key)) is not None
            for record in share.records.values()
            if record.state is RecordState.ACQUIRED
        ]
        return min(deadlines) if deadlines else None

    def group_counts(self, group_id: str) -> dict[RecordState, int]:
        totals = dict.fromkeys(RecordState, 0)
        for (group, _, _), share in self.partitions.items():
            if group == group_id:
                for state, count in share.counts().items():
                    totals[state] += count
        return totals

    async def stored(self, group_id: str) -> dict[PartitionKey, SharePartition]:
        """The group's share-partitions (loaded from the store if need be), by topic id and partition."""
        await self.load_group(group_id, await self.settings(group_id))
        return {
            (topic_id, partition): share
            for (group, topic_id, partition), share in self.partitions.items()
            if group == group_id
        }

    async def set_start_offset(self, group_id: str, topic_id: UUID, partition: int, offset: int) -> None:
        """AlterShareGroupOffsets: the share-partition starts again at `offset`, nothing in flight."""
        settings = await self.settings(group_id)
        await self.load_group(group_id, settings)
        self.partitions[(group_id, topic_id, partition)] = SharePartition(offset, settings.delivery_limit)
        await self.save(group_id, topic_id, partition)

    async def forget_topic(self, group_id: str, topic_id: UUID) -> None:
        """DeleteShareGroupOffsets: the group's next fetch of the topic starts it again (share.auto.offset.reset)."""
        self.partitions = {key: share for key, share in self.partitions.items() if key[:2] != (group_id, topic_id)}
        await self.store.share_states.delete_share_topic_states(group_id, topic_id)

    def stats(self) -> ShareStats:
        """A copy of the share groups' numbers for one scrape (taken on the event loop)."""
        groups = sorted({group for group, _, _ in self.partitions} | set(self.delivered))[:MAX_GROUPS_MEASURED]
        return ShareStats(
            in_flight={group: self.group_counts(group) for group in groups},
            delivered={g: self.delivered[g] for g in groups},
            redelivered={g: self.redelivered[g] for g in groups},
            archived={g: self.archived[g] for g in groups},
        )

    async def forget_group(self, group_id: str) -> None:
        self.partitions = {key: share for key, share in self.partitions.items() if key[0] != group_id}
        for counter in (self.delivered, self.redelivered, self.archived):
            counter.pop(group_id, None)
        self.sessions = {key: session for key, session in self.sessions.items() if key[0] != group_id}
        self._loaded_groups.pop(group_id, None)
        await self.store.share_states.delete_share_states(group_id)
