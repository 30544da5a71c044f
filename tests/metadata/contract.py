"""Helpers of the MetadataStore contract, whose tests are the test_contract_*.py modules, one per role.

Each runs once per backend of conftest.BACKENDS, through the `store` fixture (a started store on
a fresh database) and, for tests needing several stores on one database, `open_store` with
`shared_backend`.
"""

from __future__ import annotations

from uuid import UUID

from streamhouse.metadata.base import (
    Change,
    ChunkAppend,
    IndexEntry,
    MetadataStore,
    TopicInfo,
)

SEQUENCE_MAX = 2**31 - 1


def chunk(
    topic: TopicInfo | UUID,
    partition: int = 0,
    count: int = 1,
    *,
    position: int = 0,
    length: int = 100,
    timestamp: int = 1_000,
    producer: int = -1,
    epoch: int = -1,
    sequence: int = -1,
    transactional: bool = False,
    marker: int = -1,
) -> ChunkAppend:
    topic_id = topic.topic_id if isinstance(topic, TopicInfo) else topic
    return ChunkAppend(
        topic_id, partition, position, length, count, timestamp, producer, epoch, sequence, transactional, marker
    )


def txn_chunk(
    topic: TopicInfo, partition: int, producer: int, epoch: int, sequence: int, count: int = 1
) -> ChunkAppend:
    return chunk(topic, partition, count, producer=producer, epoch=epoch, sequence=sequence, transactional=True)


def marker(topic: TopicInfo, partition: int, producer: int, epoch: int, kind: int) -> ChunkAppend:
    return chunk(topic, partition, producer=producer, epoch=epoch, transactional=True, marker=kind)


def entry(base: int, last: int, key: str, position: int = 0, length: int = 100, timestamp: int = 1_000) -> IndexEntry:
    return IndexEntry(base, last, key, position, length, timestamp)


async def hwm(store: MetadataStore, topic: TopicInfo, partition: int = 0) -> int:
    return (await store.log.partition_states(topic.topic_id))[partition].high_watermark


async def all_entries(store: MetadataStore, topic: TopicInfo, partition: int = 0) -> list[IndexEntry]:
    return await store.log.find_index(topic.topic_id, partition, 0, 1_000_000)


def recorder(store: MetadataStore) -> list[Change]:
    """The list every change `store` reports is appended to."""
    changes: list[Change] = []
    store.cluster.subscribe(changes.append)
    return changes
