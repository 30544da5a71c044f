"""Partition logs of two brokers sharing one PostgreSQL database and one object store.

Each log follows the other's commits through the store's change reports (LISTEN/NOTIFY),
serves committed data from its caches while PostgreSQL is down, and recovers by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from streamhouse.metadata.base import PartitionState
from streamhouse.metadata.postgres import PostgresMetadataStore
from streamhouse.protocol.records import Record, build_batch, iter_batches, iter_records
from streamhouse.storage.log import PartitionLog, StorageError
from streamhouse.storage.objects.memory import MemoryObjectStore
from tests.pgserver import PgServer


def make_log(
    objects: MemoryObjectStore, metadata: PostgresMetadataStore, broker_id: int, **overrides: int
) -> PartitionLog:
    settings = {"flush_ms": 2, "flush_bytes": 1 << 20, "tail_cache_bytes": 1 << 20, "object_cache_bytes": 1 << 20}
    log = PartitionLog(objects, metadata, broker_id=broker_id, **(settings | overrides))
    log.start()
    return log


async def append(log: PartitionLog, topic_id: UUID, value: bytes) -> int:
    data = build_batch([Record(key=None, value=value)])
    header, _ = next(iter_batches(data))
    return (await log.append(topic_id, 0, data, header)).base_offset


def values(chunks: list[bytes]) -> list[tuple[int, bytes | None]]:
    """(offset, value) of every record in the chunks read."""
    found = []
    for chunk in chunks:
        for header, view in iter_batches(chunk):
            found += [(header.base_offset + r.offset_delta, r.value) for r in iter_records(header, bytes(view))]
    return found


async def state_reaches(log: PartitionLog, topic_id: UUID, expected: PartitionState, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await log.state(topic_id, 0) != expected:
        assert time.monotonic() < deadline, f"state stayed {await log.state(topic_id, 0)}, not {expected}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def two_stores(pg_dsn: str) -> AsyncIterator[tuple[PostgresMetadataStore, PostgresMetadataStore]]:
    first, second = PostgresMetadataStore(pg_dsn, pool_size=2), PostgresMetadataStore(pg_dsn, pool_size=2)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


async def test_a_long_poll_wakes_on_another_brokers_commit_and_reads_it(
    two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore],
) -> None:
    objects = MemoryObjectStore()
    log_a, log_b = make_log(objects, two_stores[0], 1), make_log(objects, two_stores[1], 2)
    topic_id = (await two_stores[0].topics.create_topic("t", 1, {})).topic_id
    assert await log_b.state(topic_id, 0) == PartitionState(0, 0)  # now cached on B
    started = time.monotonic()
    waiting = asyncio.create_task(log_b.wait_for_append([(topic_id, 0)], 30.0))
    await asyncio.sleep(0.1)
    assert await append(log_a, topic_id, b"from a") == 0
    await waiting
    assert time.monotonic() - started < 10.0  # woken by the notification, not by the 30 s timeout
    assert await log_b.state(topic_id, 0) == PartitionState(0, 1)
    assert values(await log_b.read(topic_id, 0, 0, 1 << 20)) == [(0, b"from a")]
    await log_a.close()
    await log_b.close()


async def test_reads_past_a_brokers_own_tail_find_the_other_brokers_batches(
    two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore],
) -> None:
    objects = MemoryObjectStore()
    log_a, log_b = make_log(objects, two_stores[0], 1), make_log(objects, two_stores[1], 2)
    topic_id = (await two_stores[0].topics.create_topic("t", 1, {})).topic_id
    assert await append(log_b, topic_id, b"b0") == 0  # B's tail cache holds offset 0
    assert await append(log_a, topic_id, b"a1") == 1
    assert await append(log_a, topic_id, b"a2") == 2
    await state_reaches(log_b, topic_id, PartitionState(0, 3))  # B's cached state, moved by notifications
    assert values(await log_b.read(topic_id, 0, 1, 1 << 20)) == [(1, b"a1"), (2, b"a2")]
    assert values(await log_a.read(topic_id, 0, 0, 1 << 20)) == [(0, b"b0"), (1, b"a1"), (2, b"a2")]
    assert await append(log_b, topic_id, b"b3") == 3
    await state_reaches(log_a, topic_id, PartitionState(0, 4))
    assert values(await log_a.read(topic_id, 0, 2, 1 << 20)) == [(2, b"a2"), (3, b"b3")]
    await log_a.close()
    await log_b.close()


async def test_committed_data_is_served_while_postgres_is_down_and_appends_recover(own_pg_server: PgServer) -> None:
    metadata = PostgresMetadataStore(own_pg_server.dsn(), pool_size=2)
    await metadata.start()
    objects = MemoryObjectStore()
    log = make_log(objects, metadata, 1, tail_cache_bytes=1)  # no tail cache: reads go through the index
    topic_id = (await metadata.topics.create_topic("t", 1, {})).topic_id
    for n in range(3):
        assert await append(log, topic_id, b"v%d" % n) == n
    expected = [(0, b"v0"), (1, b"v1"), (2, b"v2")]
    assert values(await log.read(topic_id, 0, 0, 1 << 20)) == expected

    await asyncio.to_thread(own_pg_server.halt)
    assert values(await log.read(topic_id, 0, 0, 1 << 20)) == expected  # index entries and ranges from caches
    assert await log.state(topic_id, 0) == PartitionState(0, 3)
    with pytest.raises(StorageError):
        await append(log, topic_id, b"lost")  # refused, never acknowledged

    await asyncio.to_thread(own_pg_server.resume)
    deadline = time.monotonic() + 30
    while True:
        try:
            base_offset = await append(log, topic_id, b"v3")
            break
        except StorageError:
            assert time.monotonic() < deadline, "appends did not recover"
            await asyncio.sleep(0.2)
    assert base_offset == 3
    assert values(await log.read(topic_id, 0, 0, 1 << 20)) == [*expected, (3, b"v3")]
    await log.close()
    await metadata.close()
