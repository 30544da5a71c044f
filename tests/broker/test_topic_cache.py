"""TopicCache follows topic changes other brokers make (PostgreSQL notifications) and forgets all on missed ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from streamhouse.broker.topics import TopicCache
from streamhouse.metadata.base import TopicInfo
from streamhouse.metadata.postgres import LISTEN_APPLICATION_NAME, PostgresMetadataStore


@pytest.fixture
async def two_stores(pg_dsn: str) -> AsyncIterator[tuple[PostgresMetadataStore, PostgresMetadataStore]]:
    stores = PostgresMetadataStore(pg_dsn, pool_size=2), PostgresMetadataStore(pg_dsn, pool_size=2)
    for store in stores:
        await store.start()
    yield stores
    for store in stores:
        await store.close()


async def eventually(read: Callable[[], Awaitable[TopicInfo | None]], expected: TopicInfo | None) -> None:
    deadline = time.monotonic() + 10
    while (found := await read()) != expected:
        assert time.monotonic() < deadline, f"still {found}, not {expected}"
        await asyncio.sleep(0.02)


async def test_other_brokers_topic_changes_reach_the_cache(
    two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore],
) -> None:
    here, elsewhere = two_stores
    cache = TopicCache(here)
    created = await elsewhere.topics.create_topic("t", 1, {})
    assert await cache.get("t") == created  # cached from now on
    grown = await elsewhere.topics.add_partitions("t", 3)
    await eventually(lambda: cache.get("t"), grown)
    configured = await elsewhere.topics.set_topic_configs("t", {"retention.ms": "1000"})
    await eventually(lambda: cache.get("t"), configured)
    await elsewhere.topics.delete_topic("t")
    await eventually(lambda: cache.get("t"), None)


async def test_missed_changes_empty_the_cache(two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore]) -> None:
    here, _ = two_stores
    cache = TopicCache(here)
    topic = await cache.create("t", 1, {})
    # A change no notification tells of, then the listening connection lost: the store reports
    # ChangesMissed once it listens again, and the cache reads the topic anew.
    async with here.database.transaction() as db:
        await db.execute("UPDATE topics SET partitions = 2 WHERE name = 't'")
    assert await cache.get("t") == topic  # stale, as nothing said otherwise
    async with here.database.transaction() as db:
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            LISTEN_APPLICATION_NAME,
        )
    await eventually(lambda: cache.get("t"), TopicInfo(topic.topic_id, "t", 2, {}))


def _names(topics: list[TopicInfo], last: list[str] | None) -> list[str]:
    return sorted(topic.name for topic in topics)


async def test_the_built_all_topics_answer_and_name_collisions_follow_other_brokers_changes(
    two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore],
) -> None:
    here, elsewhere = two_stores
    cache = TopicCache(here)
    assert await cache.derived("names", _names) == []
    assert await cache.colliding("a_b") is None
    await elsewhere.topics.create_topic("a.b", 1, {})
    deadline = time.monotonic() + 10
    while await cache.derived("names", _names) != ["a.b"]:  # rebuilt once the change is reported
        assert time.monotonic() < deadline, "the built answer never showed the other broker's topic"
        await asyncio.sleep(0.02)
    assert await cache.colliding("a_b") == "a.b"
    await elsewhere.topics.delete_topic("a.b")
    while await cache.derived("names", _names) != []:
        assert time.monotonic() < deadline, "the built answer never lost the deleted topic"
        await asyncio.sleep(0.02)
    assert await cache.colliding("a_b") is None


async def test_a_build_gets_what_it_built_last_and_only_changed_topics_are_read_again(
    two_stores: tuple[PostgresMetadataStore, PostgresMetadataStore],
) -> None:
    here, elsewhere = two_stores
    cache = TopicCache(here)
    for name in ("m", "a", "z"):
        await elsewhere.topics.create_topic(name, 1, {})
    seen: list[tuple[list[str], list[str] | None]] = []

    def names_after(topics: list[TopicInfo], last: list[str] | None) -> list[str]:
        built = [f"{topic.name}:{topic.partitions}" for topic in topics]
        seen.append((built, last))
        return built

    assert await cache.derived("names", names_after) == ["a:1", "m:1", "z:1"]
    assert seen == [(["a:1", "m:1", "z:1"], None)]
    reads = 0
    list_topics = here.topics.list_topics

    async def counted_list_topics() -> list[TopicInfo]:
        nonlocal reads
        reads += 1
        return await list_topics()

    here.topics.list_topics = counted_list_topics  # type: ignore[method-assign]
    await elsewhere.topics.create_topic("b", 1, {})
    await elsewhere.topics.add_partitions("m", 3)
    await elsewhere.topics.delete_topic("z")
    deadline = time.monotonic() + 10
    while (built := await cache.derived("names", names_after)) != ["a:1", "b:1", "m:3"]:
        assert time.monotonic() < deadline, f"the built answer is still {built}"
        await asyncio.sleep(0.02)
    assert seen[-1][1] is not None, "the rebuild was given the last answer"
    assert reads == 0, "changed topics were read one by one, not the whole listing"
