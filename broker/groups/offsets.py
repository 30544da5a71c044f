"""Committed offsets of groups: OffsetCommit, OffsetFetch and OffsetDelete, stored in the metadata store."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from streamhouse.broker.groups.clock import Clock
from streamhouse.broker.groups.membership import Membership
from streamhouse.broker.groups.state import DEAD, EMPTY
from streamhouse.broker.groups.table import GroupTable
from streamhouse.metadata.base import CommittedOffset, MetadataUnavailableError
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

# Kafka's default offset.metadata.max.bytes.
OFFSET_METADATA_MAX_BYTES = 4096


class GroupOffsets:
    """Commits admitted by the group's membership, written in the group's order; reads straight from the store."""

    def __init__(self, table: GroupTable, membership: Membership, clock: Clock) -> None:
        self.table = table
        self.store = table.store
        self.membership = membership
        self.clock = clock

    async def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: Sequence[CommittedOffset],
    ) -> list[ErrorCode]:
        """One error per offset, in order; the accepted ones are stored together."""
        error = self.membership.admit_commit(group_id, generation_id, member_id, group_instance_id)
        if error is not None:
            return [error] * len(offsets)
        now = self.clock.now_ms()
        errors = [
            ErrorCode.OFFSET_METADATA_TOO_LARGE if len(o.metadata) > OFFSET_METADATA_MAX_BYTES else ErrorCode.NONE
            for o in offsets
        ]
        accepted = [
            CommittedOffset(o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, now)
            for o, error in zip(offsets, errors, strict=True)
            if error is ErrorCode.NONE
        ]
        stored = await self.table.outcome(
            self.table.queue(lambda: self.store.groups.commit_offsets(group_id, accepted))
        )
        return [error or stored for error in errors]

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None
    ) -> tuple[ErrorCode, list[CommittedOffset]]:
        """The group's committed offsets of `partitions` (all when None), whatever the group's state.

        Offsets pending in an open transaction are not among them until it commits.
        """
        error = self.table.status_error(group_id, empty_id_allowed=True)
        if error is not None:
            return error, []
        group = self.table.groups.get(group_id)
        if (group is None or group.state is DEAD) and group_id not in self.table.consumer_groups:
            return ErrorCode.NONE, []
        try:
            return ErrorCode.NONE, await self.store.groups.fetch_offsets(group_id, partitions)
        except MetadataUnavailableError as exc:
            log.warning("fetching offsets of group %s failed: %s", group_id, exc)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []

    async def delete_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """(group error, one error per partition); a consumer group keeps offsets of topics it reads."""
        error = self.table.status_error(group_id, empty_id_allowed=True)
        consumer_group = self.table.consumer_groups.get(group_id)
        if error is None and consumer_group is not None:  # KIP-848: its subscriptions are known
            return await self._delete_unless(group_id, partitions, frozenset(consumer_group.subscribed_names()))
        group = self.table.groups.get(group_id)
        if error is None and (group is None or group.state is DEAD):
            error = ErrorCode.GROUP_ID_NOT_FOUND
        if (
            error is None
            and group is not None
            and group.state is not EMPTY
            and group.protocol_type != consumer_protocol.PROTOCOL_TYPE
        ):
            error = ErrorCode.NON_EMPTY_GROUP  # only a consumer group's subscriptions can be read
        if error is not None:
            return error, []
        assert group is not None
        return await self._delete_unless(
            group_id, partitions, frozenset() if group.state is EMPTY else group.subscribed_topics
        )

    async def _delete_unless(
        self, group_id: str, partitions: Sequence[tuple[str, int]], subscribed: frozenset[str] | None
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """Delete the offsets of the topics the members do not subscribe to (None: they all may be)."""
        errors = [
            ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC if subscribed is None or topic in subscribed else ErrorCode.NONE
            for topic, _ in partitions
        ]
        deletable = [tp for tp, error in zip(partitions, errors, strict=True) if error is ErrorCode.NONE]
        if deletable:
            stored = await self.table.outcome(
                self.table.queue(lambda: self.store.groups.delete_offsets(group_id, deletable))
            )
            if stored is not ErrorCode.NONE:
                return stored, []
        return ErrorCode.NONE, errors
