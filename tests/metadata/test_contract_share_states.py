"""The MetadataStore contract, the KIP-932 share-partition states role (store.share_states).

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from uuid import UUID

from streamhouse.metadata.base import MetadataStore, SharePartitionDocument
from tests.metadata.conftest import Backend, OpenStore

ORDERS = UUID("00000000-0000-0000-0000-000000000001")
AUDIT = UUID("00000000-0000-0000-0000-000000000002")


async def test_save_replace_list_and_delete_states(store: MetadataStore) -> None:
    assert await store.share_states.list_share_states("workers") == []
    assert await store.share_states.list_share_group_ids() == []
    await store.share_states.save_share_state(SharePartitionDocument("workers", AUDIT, 0, '{"start": 1}'))
    await store.share_states.save_share_state(SharePartitionDocument("workers", ORDERS, 1, '{"start": 5}'))
    await store.share_states.save_share_state(SharePartitionDocument("workers", ORDERS, 0, '{"start": 3}'))
    await store.share_states.save_share_state(SharePartitionDocument("workers", ORDERS, 1, '{"start": 9}'))
    await store.share_states.save_share_state(SharePartitionDocument("auditors", ORDERS, 0, '{"start": 0}'))
    assert await store.share_states.list_share_states("workers") == [
        SharePartitionDocument("workers", ORDERS, 0, '{"start": 3}'),
        SharePartitionDocument("workers", ORDERS, 1, '{"start": 9}'),
        SharePartitionDocument("workers", AUDIT, 0, '{"start": 1}'),
    ]
    assert await store.share_states.list_share_group_ids() == ["auditors", "workers"]
    await store.share_states.delete_share_topic_states("workers", ORDERS)
    assert await store.share_states.list_share_states("workers") == [
        SharePartitionDocument("workers", AUDIT, 0, '{"start": 1}')
    ]
    assert await store.share_states.list_share_states("auditors") == [
        SharePartitionDocument("auditors", ORDERS, 0, '{"start": 0}')
    ]
    await store.share_states.delete_share_states("workers")
    await store.share_states.delete_share_states("never-saved")
    assert await store.share_states.list_share_states("workers") == []
    assert await store.share_states.list_share_group_ids() == ["auditors"]


async def test_a_state_is_seen_by_another_store_on_the_same_database(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    writer, reader = await open_store(), await open_store()
    await writer.share_states.save_share_state(SharePartitionDocument("shared", ORDERS, 2, '{"start": 7}'))
    assert await reader.share_states.list_share_states("shared") == [
        SharePartitionDocument("shared", ORDERS, 2, '{"start": 7}')
    ]


async def test_group_configs_are_replaced_whole(store: MetadataStore) -> None:
    assert await store.share_states.share_group_configs("workers") == {}
    await store.share_states.save_share_group_configs("workers", {"share.isolation.level": "read_committed"})
    await store.share_states.save_share_group_configs("others", {"share.delivery.count.limit": "3"})
    await store.share_states.save_share_group_configs("workers", {"share.record.lock.duration.ms": "15000"})
    assert await store.share_states.share_group_configs("workers") == {"share.record.lock.duration.ms": "15000"}
    await store.share_states.save_share_group_configs("workers", {})
    assert await store.share_states.share_group_configs("workers") == {}
    assert await store.share_states.share_group_configs("others") == {"share.delivery.count.limit": "3"}
