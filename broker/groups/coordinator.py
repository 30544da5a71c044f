"""The classic consumer group coordinator, the broker's groups service: a front over its parts.

- state.py: a group and its members, and the states a group goes through;
- table.py: this broker's groups, its coordinator's status, and the store writes in order;
- rebalance.py and membership.py: the state machine, its timers, and the members' requests;
- offsets.py: committed offsets; admin.py: describing, listing and deleting groups.

Error codes are returned where Kafka returns them: UNKNOWN_MEMBER_ID (25), ILLEGAL_GENERATION
(22), REBALANCE_IN_PROGRESS (27), MEMBER_ID_REQUIRED (79), FENCED_INSTANCE_ID (82),
INVALID_SESSION_TIMEOUT (26), INCONSISTENT_GROUP_PROTOCOL (23), INVALID_GROUP_ID (24),
GROUP_ID_NOT_FOUND (69), NON_EMPTY_GROUP (68), GROUP_SUBSCRIBED_TO_TOPIC (86),
OFFSET_METADATA_TOO_LARGE (12); COORDINATOR_LOAD_IN_PROGRESS (14) before the groups are loaded,
NOT_COORDINATOR (16) once stopping and for a group another live broker coordinates (broker/cluster.py
names one per group), and COORDINATOR_NOT_AVAILABLE (15) for a group being deleted or when the
metadata store cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence

from streamhouse.broker.groups.admin import GroupAdmin, GroupOverview, GroupSummary
from streamhouse.broker.groups.clock import Clock, LoopClock
from streamhouse.broker.groups.membership import MIN_SESSION_TIMEOUT_MS, Membership
from streamhouse.broker.groups.offsets import GroupOffsets
from streamhouse.broker.groups.rebalance import Rebalancer
from streamhouse.broker.groups.state import Group, JoinRequest, JoinResult, SyncResult
from streamhouse.broker.groups.table import GroupTable, Status, every_group
from streamhouse.metadata.base import CommittedOffset, MetadataStore
from streamhouse.protocol.errors import ErrorCode


class GroupCoordinator:
    """Every group of this broker: its life cycle here, and each request handed to the part that answers it."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Clock | None = None,
        initial_rebalance_delay_ms: int = 3000,
        min_session_timeout_ms: int = MIN_SESSION_TIMEOUT_MS,
    ) -> None:
        clock = clock or LoopClock()
        self.table = GroupTable(store)
        self.rebalancer = Rebalancer(self.table, clock, initial_rebalance_delay_ms)
        self.membership = Membership(self.table, self.rebalancer, clock, min_session_timeout_ms)
        self.offsets = GroupOffsets(self.table, self.membership, clock)
        self.admin = GroupAdmin(self.table)

    @property
    def groups(self) -> dict[str, Group]:
        return self.table.groups

    @property
    def rebalances(self) -> dict[str, int]:
        """Rebalances started per group id, for the metrics."""
        return self.rebalancer.rebalances

    @property
    def active(self) -> bool:
        return self.table.status is Status.ACTIVE

    # -- life cycle ----------------------------------------------------------

    async def start(self, owns: Callable[[str], bool] = every_group) -> None:
        await self.table.start(owns)

    async def reassign(self, owns: Callable[[str], bool]) -> None:
        await self.table.reassign(owns)

    async def stop(self) -> None:
        await self.table.stop()

    async def flush(self) -> None:
        await self.table.flush()

    # -- members -------------------------------------------------------------

    def join_group(self, request: JoinRequest) -> asyncio.Future[JoinResult]:
        return self.membership.join_group(request)

    def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: Mapping[str, bytes],
    ) -> asyncio.Future[SyncResult]:
        return self.membership.sync_group(
            group_id, generation_id, member_id, group_instance_id, protocol_type, protocol_name, assignments
        )

    def heartbeat(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None) -> ErrorCode:
        return self.membership.heartbeat(group_id, generation_id, member_id, group_instance_id)

    def leave_group(
        self, group_id: str, leaving: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        return self.membership.leave_group(group_id, leaving)

    def admit_transactional_commit(
        self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode | None:
        """Why a TxnOffsetCommit may not commit to the group now, or None: members are checked only
        when the request names one (v3+), as Kafka does."""
        return self.membership.admit_commit(group_id, generation_id, member_id, group_instance_id, transactional=True)

    # -- offsets -------------------------------------------------------------

    async def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: Sequence[CommittedOffset],
    ) -> list[ErrorCode]:
        return await self.offsets.commit_offsets(group_id, generation_id, member_id, group_instance_id, offsets)

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None
    ) -> tuple[ErrorCode, list[CommittedOffset]]:
        return await self.offsets.fetch_offsets(group_id, partitions)

    async def delete_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        return await self.offsets.delete_offsets(group_id, partitions)

    # -- administration --------------------------------------------------------

    def describe_group(self, group_id: str) -> tuple[ErrorCode, GroupSummary]:
        return self.admin.describe_group(group_id)

    def list_groups(
        self, states: Collection[str] = (), types: Collection[str] = ()
    ) -> tuple[ErrorCode, list[GroupOverview]]:
        return self.admin.list_groups(states, types)

    async def delete_groups(self, group_ids: Sequence[str]) -> dict[str, ErrorCode]:
        return await self.admin.delete_groups(group_ids)
