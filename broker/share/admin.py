"""Share groups as administrators see them: ListGroups and DeleteGroups answer for them beside the other groups."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from streamhouse.broker.groups.admin import GroupOverview
from streamhouse.broker.share.groups import GROUP_TYPE
from streamhouse.metadata.base import MetadataUnavailableError
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.share.groups import ShareGroups
    from streamhouse.broker.share.partitions import SharePartitions

log = logging.getLogger(__name__)


async def list_share_groups(
    groups: ShareGroups, states: Collection[str] = (), types: Collection[str] = ()
) -> list[GroupOverview]:
    """This broker's share groups in one of `states` and of one of `types` (any case; empty: all)."""
    wanted, wanted_types = {s.lower() for s in states}, {t.lower() for t in types}
    if wanted_types and GROUP_TYPE not in wanted_types:
        return []
    await groups.load_stored()
    return [
        GroupOverview(group.group_id, GROUP_TYPE, group.state, GROUP_TYPE)
        for group in groups.owned()
        if not wanted or group.state.lower() in wanted
    ]


async def delete_share_groups(
    groups: ShareGroups, partitions: SharePartitions, group_ids: Sequence[str]
) -> dict[str, ErrorCode]:
    """Delete the share groups among `group_ids` (their share-partition states and configs); others are left out."""
    await groups.load_stored()
    results: dict[str, ErrorCode] = {}
    for group_id in dict.fromkeys(group_ids):
        group = groups.groups.get(group_id)
        if group is None or groups.table.status_error(group_id) is not None:
            continue
        if group.members:
            results[group_id] = ErrorCode.NON_EMPTY_GROUP
            continue
        try:
            await partitions.forget_group(group_id)
            await partitions.configs.replace(group_id, {})
        except MetadataUnavailableError:
            results[group_id] = ErrorCode.COORDINATOR_NOT_AVAILABLE
            continue
        del groups.groups[group_id]
        results[group_id] = ErrorCode.NONE
        log.info("share group %s deleted", group_id)
    return results
