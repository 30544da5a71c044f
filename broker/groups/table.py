"""This broker's groups: which it coordinates, whether their records are loaded, and their store writes.

Group records (generation, protocol, leader, state) and committed offsets live in the metadata
store; members do not, so after a restart they rejoin and the generation continues. Every store
write goes through one queue, in the order the state machine decided them, so a deletion can
never be overtaken by an earlier write of the same group.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streamhouse.broker.groups.consumer_state import ConsumerGroup
from streamhouse.broker.groups.state import Group
from streamhouse.metadata.base import MetadataStore, MetadataUnavailableError
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

# Kafka does not bound group ids; one is a row key and a metric label here, so it is bounded
# as a topic name nearly is. A longer one gets INVALID_GROUP_ID from every group API.
MAX_GROUP_ID_LENGTH = 255


class Status(enum.Enum):
    LOADING = "loading"
    ACTIVE = "active"
    STOPPED = "stopped"


@dataclass(frozen=True)
class _Write:
    run: Callable[[], Awaitable[None]]
    done: asyncio.Future[None] | None  # None: nobody waits (group records); failures are logged


def every_group(group_id: str) -> bool:
    return True


def no_group(group_id: str) -> bool:
    return False


class GroupTable:
    """The groups of this broker by id, its coordinator's status, and the ordered writes to the store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.groups: dict[str, Group] = {}
        self.consumer_groups: dict[str, ConsumerGroup] = {}  # KIP-848 groups (broker/groups/consumer.py)
        self.consumer_group_loaded: Callable[[ConsumerGroup], None] = lambda group: None
        self.status = Status.LOADING
        self._owns: Callable[[str], bool] = every_group  # the groups this broker coordinates
        self._loaded_for: Callable[[str], bool] = no_group  # the groups whose records are loaded
        self._writes: asyncio.Queue[_Write] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------

    async def start(self, owns: Callable[[str], bool]) -> None:
        """Load the records of the groups `owns` names; members are not kept, so every loaded group is Empty."""
        self._owns = owns
        await self._load_arriving(owns)
        self._writer = asyncio.create_task(self._write_in_order(), name="group-coordinator-writes")
        self.status = Status.ACTIVE
        log.info("group coordinator loaded %d groups", len(self.groups))

    async def reassign(self, owns: Callable[[str], bool]) -> None:
        """Coordinate the groups `owns` names from now on (the live brokers changed).

        As Kafka when a partition of __consumer_offsets moves: the groups that went elsewhere are
        unloaded (their parked requests get NOT_COORDINATOR, and so does every later request), and
        those that came here answer COORDINATOR_LOAD_IN_PROGRESS until their records are loaded. If
        the store cannot be read, they keep answering so until a later call loads them.
        """
        self._owns = owns
        for group in [group for group in self.groups.values() if not owns(group.group_id)]:
            group.unload()
            del self.groups[group.group_id]
        for consumer_group in [g for g in self.consumer_groups.values() if not owns(g.group_id)]:
            _unload_consumer_group(consumer_group)
            del self.consumer_groups[consumer_group.group_id]
        await self._load_arriving(owns)

    async def _load_arriving(self, owns: Callable[[str], bool]) -> None:
        for record in await self.store.groups.list_groups():
            if owns(record.group_id) and not self._loaded_for(record.group_id):
                self.groups[record.group_id] = Group(
                    record.group_id, protocol_type=record.protocol_type or None, generation_id=record.generation_id
                )
        for document in await self.store.consumer_groups.list_consumer_groups():
            if owns(document.group_id) and not self._loaded_for(document.group_id):
                # A consumer group's classic record, if any, is an earlier life of the same group id.
                self.groups.pop(document.group_id, None)
                consumer_group = self.consumer_groups[document.group_id] = ConsumerGroup.from_document(
                    document.group_id, document.state
                )
                self.consumer_group_loaded(consumer_group)
        self._loaded_for = owns

    async def stop(self) -> None:
        """Stop coordinating: parked joins and syncs get NOT_COORDINATOR; queued writes are finished."""
        if self.status is Status.STOPPED:
            return
        self.status = Status.STOPPED
        for group in self.groups.values():
            group.unload()
        for consumer_group in self.consumer_groups.values():
            _unload_consumer_group(consumer_group)
        if self._writer is not None:
            await self.flush()
            self._writer.cancel()

    async def flush(self) -> None:
        """Wait until every write queued so far is done."""
        await self._writes.join()

    def status_error(self, group_id: str, empty_id_allowed: bool = False) -> ErrorCode | None:
        # OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups accept "" (Kafka keeps it for
        # old clients); the membership APIs need a real group id.
        if (not group_id and not empty_id_allowed) or len(group_id) > MAX_GROUP_ID_LENGTH:
            return ErrorCode.INVALID_GROUP_ID
        if self.status is Status.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if self.status is Status.STOPPED or not self._owns(group_id):
            return ErrorCode.NOT_COORDINATOR
        if not self._loaded_for(group_id):
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return None

    # -- writes, in order ------------------------------------------------------

    async def _write_in_order(self) -> None:
        while True:
            write = await self._writes.get()
            try:
                await write.run()
            except Exception as exc:
                if write.done is None:
                    log.exception("writing a group record failed")
                elif not write.done.done():
                    write.done.set_exception(exc)
            else:
                if write.done is not None and not write.done.done():
                    write.done.set_result(None)
            finally:
                self._writes.task_done()

    def persist(self, group: Group) -> None:
        """Queue the group's record as it is now."""
        record = group.record()
        self._writes.put_nowait(_Write(lambda: self.store.groups.save_group(record), None))

    def write_later(self, run: Callable[[], Awaitable[None]]) -> None:
        """Queue a write nobody waits for; a failure is logged."""
        self._writes.put_nowait(_Write(run, None))

    def queue(self, run: Callable[[], Awaitable[None]]) -> asyncio.Future[None]:
        """Queue a write now (in the order of the state machine's decisions); the future tells its end."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.put_nowait(_Write(run, done))
        return done

    async def outcome(self, done: asyncio.Future[None]) -> ErrorCode:
        """A queued write's end; an unreachable store is COORDINATOR_NOT_AVAILABLE.

        The store holds what Kafka keeps in __consumer_offsets: when it cannot be reached, the
        coordinator is not available, which clients retry.
        """
        try:
            await done
        except MetadataUnavailableError as exc:
            log.warning("group write failed: %s", exc)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        return ErrorCode.NONE


def _unload_consumer_group(group: ConsumerGroup) -> None:
    for member in group.members.values():
        member.cancel_timers()
