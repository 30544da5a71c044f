"""Garbage collection over memory objects and a real SQLite store: orphaned flush objects go, known ones stay."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from streamhouse.storage.log import StorageError
from streamhouse.storage.maintenance import Maintenance, now_ms
from tests.storage.test_log import CountingMetadata, FailingObjects, batch, make_log, topic

MINUTE_MS = 60_000


@pytest.fixture
async def stores() -> AsyncIterator[tuple[FailingObjects, CountingMetadata]]:
    metadata = CountingMetadata()
    await metadata.start()
    yield FailingObjects(), metadata
    await metadata.close()


async def two_flushes(stores: tuple[FailingObjects, CountingMetadata], *, second_commit_fails: bool) -> UUID:
    """Two appends to partition 0 of a new topic, in two flush objects; returns the topic id."""
    objects, metadata = stores
    topic_id = await topic(metadata)
    log = make_log(objects, metadata)
    log.start()
    await log.append(topic_id, 0, *batch(b"first"))
    metadata.failing = second_commit_fails  # the put succeeds, the commit fails: the object gets no record
    second = log.append(topic_id, 0, *batch(b"second"))
    with contextlib.suppress(StorageError):
        await second
    metadata.failing = False
    await log.close()
    if second_commit_fails:
        assert isinstance(second.exception(), StorageError)
    else:
        assert second.result().base_offset == 1
    return topic_id


async def test_a_flush_object_whose_commit_failed_is_collected_once_old_enough(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await two_flushes(stores, second_commit_fails=True)
    [kept, orphan] = await objects.list("flush/")  # keys sort by the time they were named
    assert await metadata.log.known_objects([kept, orphan]) == {kept}
    log = make_log(objects, metadata)

    maintenance = Maintenance(objects, metadata, log, orphan_min_age_ms=10 * MINUTE_MS)
    # Younger than the safe age: its commit might still be under way, so it stays.
    assert await maintenance.collect_garbage(now_ms()) == 0
    assert await objects.list("flush/") == [kept, orphan]
    # Older: collected; the committed object, referenced by the index, stays and still reads.
    assert await maintenance.collect_garbage(now_ms() + 11 * MINUTE_MS) == 1
    assert await objects.list("flush/") == [kept]
    [entry] = await metadata.log.find_index(topic_id, 0, 0, 10)
    assert entry.object_key == kept
    assert await log.read(topic_id, 0, 0, 1 << 20) != []
    # A later pass finds nothing more to delete.
    assert await maintenance.collect_garbage(now_ms() + 11 * MINUTE_MS) == 0


async def test_objects_of_dropped_entries_are_collected_at_once(
    stores: tuple[FailingObjects, CountingMetadata],
) -> None:
    objects, metadata = stores
    topic_id = await two_flushes(stores, second_commit_fails=False)
    [old, new] = await objects.list("flush/")
    log = make_log(objects, metadata)
    await log.set_log_start_offset(topic_id, 0, 1)  # retention dropped the first entry
    maintenance = Maintenance(objects, metadata, log, orphan_min_age_ms=10 * MINUTE_MS)
    assert await maintenance.collect_garbage(now_ms()) == 1
    assert await objects.list("flush/") == [new]
    assert await metadata.log.known_objects([old, new]) == {new}
