"""Groups as administrators see them: DescribeGroups, ListGroups and DeleteGroups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial

from streamhouse.broker.groups.state import DEAD, EMPTY, STABLE, Group
from streamhouse.broker.groups.table import GroupTable, Status
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupSummary:
    """DescribeGroups' view: protocol, metadata and assignments only for a Stable group."""

    state: str
    protocol_type: str
    protocol_name: str
    members: tuple[MemberSummary, ...] = ()


@dataclass(frozen=True)
class GroupOverview:
    group_id: str
    protocol_type: str
    state: str
    group_type: str = "classic"  # or "consumer": a KIP-848 group (ListGroups v5)


class GroupAdmin:
    """Describes and lists this broker's groups; deletes Empty ones with their offsets."""

    def __init__(self, table: GroupTable) -> None:
        self.table = table

    def describe_group(self, group_id: str) -> tuple[ErrorCode, GroupSummary]:
        error = self.table.status_error(group_id, empty_id_allowed=True)
        if error is not None:
            return error, GroupSummary("", "", "")
        if group_id in self.table.consumer_groups:
            return ErrorCode.GROUP_ID_NOT_FOUND, GroupSummary(DEAD.value, "", "")  # Kafka: not a classic group
        group = self.table.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, GroupSummary(DEAD.value, "", "")
        if group.state is STABLE:
            assert group.protocol_name is not None
            members = tuple(
                MemberSummary(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.metadata(group.protocol_name),
                    m.assignment,
                )
                for m in group.members.values()
            )
            return ErrorCode.NONE, GroupSummary(
                group.state.value, group.protocol_type or "", group.protocol_name, members
            )
        members = tuple(
            MemberSummary(m.member_id, m.group_instance_id, m.client_id, m.client_host, b"", b"")
            for m in group.members.values()
        )
        return ErrorCode.NONE, GroupSummary(group.state.value, group.protocol_type or "", "", members)

    def list_groups(
        self, states: Collection[str] = (), types: Collection[str] = ()
    ) -> tuple[ErrorCode, list[GroupOverview]]:
        """Every group, or those in one of `states` and of one of `types` (any case), by group id."""
        if self.table.status is Status.STOPPED:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        wanted, wanted_types = {state.lower() for state in states}, {kind.lower() for kind in types}
        every = [
            GroupOverview(group.group_id, group.protocol_type or "", group.state.value)
            for group in self.table.groups.values()
        ] + [
            GroupOverview(group.group_id, "consumer", group.state, "consumer")
            for group in self.table.consumer_groups.values()
        ]
        groups = [
            overview
            for overview in sorted(every, key=lambda g: g.group_id)
            if (not wanted or overview.state.lower() in wanted)
            and (not wanted_types or overview.group_type in wanted_types)
        ]
        if self.table.status is Status.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, groups
        return ErrorCode.NONE, groups

    async def delete_groups(self, group_ids: Sequence[str]) -> dict[str, ErrorCode]:
        """One error per distinct group id; only Empty groups are deleted, with their offsets."""
        results: dict[str, ErrorCode] = {}
        deleting: list[tuple[Group, asyncio.Future[None]]] = []
        for group_id in dict.fromkeys(group_ids):
            error = self.table.status_error(group_id, empty_id_allowed=True)
            consumer_group = self.table.consumer_groups.get(group_id)
            if error is None and consumer_group is not None:
                results[group_id] = await self._delete_consumer_group(group_id, bool(consumer_group.members))
                continue
            group = self.table.groups.get(group_id)
            if error is None and (group is None or group.state is DEAD):
                error = ErrorCode.GROUP_ID_NOT_FOUND
            if error is None and group is not None and group.state is not EMPTY:
                error = ErrorCode.NON_EMPTY_GROUP
            if error is not None:
                results[group_id] = error
                continue
            assert group is not None
            group.transition(DEAD)  # requests meanwhile get COORDINATOR_NOT_AVAILABLE and retry
            deleting.append((group, self.table.queue(partial(self.table.store.groups.delete_group, group_id))))
        for group, done in deleting:
            error = results[group.group_id] = await self.table.outcome(done)
            if error is ErrorCode.NONE:
                del self.table.groups[group.group_id]
                log.info("group %s deleted", group)
            else:
                group.state = EMPTY  # still stored as it was: keep serving it
        return results

    async def _delete_consumer_group(self, group_id: str, has_members: bool) -> ErrorCode:
        """A KIP-848 group without members is deleted with its offsets, as a classic one."""
        if has_members:
            return ErrorCode.NON_EMPTY_GROUP
        error = await self.table.outcome(self.table.queue(partial(self.table.store.groups.delete_group, group_id)))
        if error is ErrorCode.NONE:
            self.table.consumer_groups.pop(group_id, None)
            log.info("consumer group %s deleted", group_id)
        return error
