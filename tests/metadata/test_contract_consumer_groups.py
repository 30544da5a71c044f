"""The MetadataStore contract, the KIP-848 consumer groups role (store.consumer_groups): one state document per group.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from streamhouse.metadata.base import CommittedOffset, ConsumerGroupDocument, MetadataStore
from tests.metadata.conftest import Backend, OpenStore


async def test_save_replace_list_and_delete_states(store: MetadataStore) -> None:
    assert await store.consumer_groups.list_consumer_groups() == []
    await store.consumer_groups.save_consumer_group(ConsumerGroupDocument("orders", '{"group_epoch": 1}'))
    await store.consumer_groups.save_consumer_group(ConsumerGroupDocument("audit", '{"group_epoch": 4}'))
    await store.consumer_groups.save_consumer_group(ConsumerGroupDocument("orders", '{"group_epoch": 2}'))
    assert await store.consumer_groups.list_consumer_groups() == [
        ConsumerGroupDocument("audit", '{"group_epoch": 4}'),
        ConsumerGroupDocument("orders", '{"group_epoch": 2}'),
    ]
    await store.consumer_groups.delete_consumer_group("orders")
    await store.consumer_groups.delete_consumer_group("never-saved")
    assert await store.consumer_groups.list_consumer_groups() == [ConsumerGroupDocument("audit", '{"group_epoch": 4}')]


async def test_deleting_the_state_keeps_offsets_and_deleting_the_group_drops_both(store: MetadataStore) -> None:
    offset = CommittedOffset("events", 0, 42, -1, "", 1)
    await store.groups.commit_offsets("payments", [offset])
    await store.consumer_groups.save_consumer_group(ConsumerGroupDocument("payments", "{}"))
    await store.consumer_groups.delete_consumer_group("payments")
    assert [o.offset for o in await store.groups.fetch_offsets("payments")] == [42]
    await store.consumer_groups.save_consumer_group(ConsumerGroupDocument("payments", "{}"))
    await store.groups.delete_group("payments")
    assert await store.consumer_groups.list_consumer_groups() == []
    assert await store.groups.fetch_offsets("payments") == []


async def test_a_state_is_seen_by_another_store_on_the_same_database(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    writer, reader = await open_store(), await open_store()
    await writer.consumer_groups.save_consumer_group(ConsumerGroupDocument("shared", '{"members": {}}'))
    assert await reader.consumer_groups.list_consumer_groups() == [ConsumerGroupDocument("shared", '{"members": {}}')]
