"""The MetadataStore contract, the groups role (store.groups): group records and committed offsets.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from streamhouse.metadata.base import (
    CommittedOffset,
    GroupRecord,
    MetadataStore,
)
from tests.metadata.conftest import Backend, OpenStore


def group(group_id: str, generation: int = 1, state: str = "Stable") -> GroupRecord:
    return GroupRecord(group_id, "consumer", generation, "range", f"{group_id}-leader", state)


async def test_save_group_inserts_and_replaces(store: MetadataStore) -> None:
    assert await store.groups.list_groups() == []
    await store.groups.save_group(group("b"))
    await store.groups.save_group(group("a", generation=4))
    await store.groups.save_group(group("b", generation=2, state="PreparingRebalance"))
    simple = GroupRecord("c", "", 0, None, None, "Empty")
    await store.groups.save_group(simple)
    assert await store.groups.list_groups() == [group("a", generation=4), group("b", 2, "PreparingRebalance"), simple]


async def test_commit_and_fetch_offsets(store: MetadataStore) -> None:
    first = [
        CommittedOffset("t", 1, 10, leader_epoch=3, metadata="m1", commit_time_ms=1_000),
        CommittedOffset("t", 0, 5),
        CommittedOffset("u", 0, 7, metadata="", commit_time_ms=2_000),
    ]
    await store.groups.commit_offsets("g", first)
    assert await store.groups.fetch_offsets("g") == [first[1], first[0], first[2]]
    later = CommittedOffset("t", 1, 12, leader_epoch=-1, metadata="m2", commit_time_ms=3_000)
    await store.groups.commit_offsets("g", [later])
    assert await store.groups.fetch_offsets("g", [("t", 1), ("u", 0), ("t", 9), ("missing", 0)]) == [later, first[2]]
    assert await store.groups.fetch_offsets("g", []) == []
    assert await store.groups.fetch_offsets("other") == []
    await store.groups.commit_offsets("g", [])
    assert len(await store.groups.fetch_offsets("g")) == 3


async def test_offsets_are_kept_per_group(store: MetadataStore) -> None:
    await store.groups.commit_offsets("a", [CommittedOffset("t", 0, 1)])
    await store.groups.commit_offsets("b", [CommittedOffset("t", 0, 2)])
    assert await store.groups.fetch_offsets("a", [("t", 0)]) == [CommittedOffset("t", 0, 1)]
    assert await store.groups.fetch_offsets("b") == [CommittedOffset("t", 0, 2)]


async def test_fetch_offsets_of_many_partitions(store: MetadataStore) -> None:
    offsets = [CommittedOffset("t", partition, partition * 2) for partition in range(1_000)]
    await store.groups.commit_offsets("g", offsets)
    wanted = [("t", partition) for partition in range(0, 1_200, 2)]
    assert await store.groups.fetch_offsets("g", wanted) == offsets[0:1_000:2]
    assert await store.groups.fetch_offsets("g") == offsets


async def test_delete_offsets(store: MetadataStore) -> None:
    await store.groups.commit_offsets(
        "g", [CommittedOffset("t", 0, 1), CommittedOffset("t", 1, 2), CommittedOffset("u", 0, 3)]
    )
    await store.groups.commit_offsets("h", [CommittedOffset("t", 0, 4)])
    await store.groups.delete_offsets("g", [("t", 0), ("u", 0), ("t", 5)])
    assert await store.groups.fetch_offsets("g") == [CommittedOffset("t", 1, 2)]
    assert await store.groups.fetch_offsets("h") == [CommittedOffset("t", 0, 4)]


async def test_delete_group_drops_its_record_and_offsets(store: MetadataStore) -> None:
    for name in ("gone", "kept"):
        await store.groups.save_group(group(name))
        await store.groups.commit_offsets(name, [CommittedOffset("t", 0, 1)])
    await store.groups.delete_group("gone")
    assert await store.groups.list_groups() == [group("kept")]
    assert await store.groups.fetch_offsets("gone") == []
    assert await store.groups.fetch_offsets("kept") == [CommittedOffset("t", 0, 1)]
    await store.groups.delete_group("never-existed")


async def test_delete_topic_drops_the_offsets_committed_on_it(store: MetadataStore) -> None:
    await store.topics.create_topic("gone", 2, {})
    await store.topics.create_topic("kept", 1, {})
    committed = [CommittedOffset("gone", 0, 1), CommittedOffset("gone", 1, 2), CommittedOffset("kept", 0, 3)]
    await store.groups.commit_offsets("g", committed)
    await store.topics.delete_topic("gone")
    assert await store.groups.fetch_offsets("g") == [CommittedOffset("kept", 0, 3)]
    await store.topics.create_topic("gone", 2, {})
    assert await store.groups.fetch_offsets("g", [("gone", 0)]) == []


async def test_groups_and_offsets_survive_a_restart(
    store: MetadataStore, shared_backend: Backend, open_store: OpenStore
) -> None:
    await store.groups.save_group(group("g", generation=7))
    offset = CommittedOffset("t", 3, 42, leader_epoch=1, metadata="kept", commit_time_ms=5_000)
    await store.groups.commit_offsets("g", [offset])
    await store.close()
    reopened = await open_store()
    assert await reopened.groups.list_groups() == [group("g", generation=7)]
    assert await reopened.groups.fetch_offsets("g") == [offset]
