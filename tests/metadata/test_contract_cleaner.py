"""The MetadataStore contract, the log cleaner's role (store.cleaner): the lease and the checkpoint.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from streamhouse.metadata.base import CleanerCheckpoint, MetadataStore
from tests.metadata.conftest import Backend, OpenStore

NOW = 1_700_000_000_000
LEASE_MS = 60_000


async def test_a_lease_is_held_until_it_expires_and_renewed_by_its_holder(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("compacted", 2, {})
    cleaner = store.cleaner
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 1, NOW, LEASE_MS) == CleanerCheckpoint()
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 2, NOW + 1, LEASE_MS) is None
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 1, 2, NOW + 1, LEASE_MS) is not None  # another partition
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 1, NOW + 2, LEASE_MS) is not None  # renewed
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 2, NOW + LEASE_MS + 1, LEASE_MS) is None
    # Expired: another broker takes it over, and the first may no longer save.
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 2, NOW + LEASE_MS + 3, LEASE_MS) is not None
    assert not await cleaner.save_cleaner_checkpoint(topic.topic_id, 0, 1, CleanerCheckpoint(5))


async def test_the_checkpoint_is_saved_by_the_holder_and_read_back_with_the_lease(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("compacted", 1, {})
    cleaner = store.cleaner
    await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 1, NOW, LEASE_MS)
    saved = CleanerCheckpoint(4242, NOW, ((100, NOW - 5000), (4242, NOW)), NOW + 86_400_000)
    assert await cleaner.save_cleaner_checkpoint(topic.topic_id, 0, 1, saved)
    # Saving released the lease: it cannot be saved again, and another broker takes it at once.
    assert not await cleaner.save_cleaner_checkpoint(topic.topic_id, 0, 1, CleanerCheckpoint(1))
    assert await cleaner.acquire_cleaner_lease(topic.topic_id, 0, 2, NOW + 10, LEASE_MS) == saved


async def test_a_deleted_topic_leaves_no_cleaner_state(store: MetadataStore) -> None:
    topic = await store.topics.create_topic("compacted", 1, {})
    await store.cleaner.acquire_cleaner_lease(topic.topic_id, 0, 1, NOW, LEASE_MS)
    await store.cleaner.save_cleaner_checkpoint(topic.topic_id, 0, 1, CleanerCheckpoint(7))
    await store.topics.delete_topic("compacted")
    again = await store.topics.create_topic("compacted", 1, {})
    assert await store.cleaner.acquire_cleaner_lease(again.topic_id, 0, 2, NOW, LEASE_MS) == CleanerCheckpoint()


async def test_brokers_sharing_a_database_share_the_lease(shared_backend: Backend, open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    topic = await first.topics.create_topic("compacted", 1, {})
    assert await first.cleaner.acquire_cleaner_lease(topic.topic_id, 0, 1, NOW, LEASE_MS) is not None
    assert await second.cleaner.acquire_cleaner_lease(topic.topic_id, 0, 2, NOW, LEASE_MS) is None
