"""The topics role of the production store (metadata.roles.TopicStore)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from streamhouse.metadata import sql
from streamhouse.metadata.base import (
    InvalidPartitionsError,
    TopicChange,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
)
from streamhouse.metadata.gil import sharing_the_gil
from streamhouse.metadata.postgres.database import NOW_MS, PostgresDatabase, plain_uuid

if TYPE_CHECKING:
    from streamhouse.metadata.postgres.database import Connection

_TOPIC_BY_NAME = sql.numbered(sql.TOPIC_BY_NAME)
_LOCK_TOPIC = _TOPIC_BY_NAME + " FOR UPDATE"


def _topic(row: asyncpg.Record) -> TopicInfo:
    return TopicInfo(plain_uuid(row[0]), row[1], row[2], json.loads(row[3]))


async def _locked_topic(db: Connection, name: str) -> TopicInfo:
    row = await db.fetchrow(_LOCK_TOPIC, name)
    if row is None:
        raise UnknownTopicError(name)
    return _topic(row)


async def _insert_partitions(db: Connection, topic_id: UUID, partitions: range) -> None:
    await db.execute(
        "INSERT INTO partitions (topic_id, partition, log_start_offset, high_watermark)"
        " SELECT $1, p, 0, 0 FROM generate_series($2::integer, $3::integer) AS p",
        topic_id,
        partitions.start,
        partitions.stop - 1,
    )


class PostgresTopics:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def create_topic(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        if partitions < 1:
            raise InvalidPartitionsError(f"a topic needs at least one partition, not {partitions}")
        topic = TopicInfo(uuid.uuid4(), name, partitions, dict(configs))
        change = TopicChange(topic.topic_id, name, local=True)
        try:
            async with self._database.transaction() as db:
                if await db.fetchrow(_TOPIC_BY_NAME, name) is not None:
                    raise TopicExistsError(name)
                await db.execute(
                    "INSERT INTO topics (topic_id, name, partitions, configs, created_ms)"
                    f" VALUES ($1, $2, $3, $4::jsonb, {NOW_MS})",
                    topic.topic_id,
                    name,
                    partitions,
                    json.dumps(topic.configs, sort_keys=True),
                )
                await _insert_partitions(db, topic.topic_id, range(partitions))
                await self._database.notify(db, [change])
        except asyncpg.UniqueViolationError as exc:  # another broker created it meanwhile
            raise TopicExistsError(name) from exc
        self._database.changes.publish([change])
        return topic

    async def get_topic(self, name: str) -> TopicInfo | None:
        async with self._database.read() as db:
            row = await db.fetchrow(_TOPIC_BY_NAME, name)
        return None if row is None else _topic(row)

    async def get_topic_by_id(self, topic_id: UUID) -> TopicInfo | None:
        async with self._database.read() as db:
            row = await db.fetchrow(sql.numbered(sql.TOPIC_BY_ID), topic_id)
        return None if row is None else _topic(row)

    async def list_topics(self) -> list[TopicInfo]:
        async with self._database.read() as db:
            rows = await db.fetch(f'SELECT {sql.TOPIC_COLUMNS} FROM topics ORDER BY name COLLATE "C"')
        # Made in a thread: tens of thousands of topics are too many to make on the event loop.
        return await asyncio.to_thread(lambda: [_topic(row) for row in sharing_the_gil(rows)])

    async def delete_topic(self, name: str) -> TopicInfo:
        async with self._database.transaction() as db:
            topic = await _locked_topic(db, name)
            for statement in sql.DELETE_TOPIC_ROWS:
                await db.execute(sql.numbered(statement), topic.topic_id)
            await db.execute(sql.numbered(sql.DELETE_TOPIC_OFFSETS), name)
            change = TopicChange(topic.topic_id, name, local=True)
            await self._database.notify(db, [change])
        self._database.changes.publish([change])
        return topic

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        async with self._database.transaction() as db:
            topic = await _locked_topic(db, name)
            if count <= topic.partitions:
                raise InvalidPartitionsError(
                    f"topic {name!r} has {topic.partitions} partitions; {count} does not grow it"
                )
            await db.execute(sql.numbered(sql.SET_PARTITION_COUNT), count, topic.topic_id)
            await _insert_partitions(db, topic.topic_id, range(topic.partitions, count))
            change = TopicChange(topic.topic_id, name, local=True)
            await self._database.notify(db, [change])
        self._database.changes.publish([change])
        return TopicInfo(topic.topic_id, topic.name, count, topic.configs)

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        async with self._database.transaction() as db:
            topic = await _locked_topic(db, name)
            await db.execute(
                "UPDATE topics SET configs = $1::jsonb WHERE topic_id = $2",
                json.dumps(dict(configs), sort_keys=True),
                topic.topic_id,
            )
            change = TopicChange(topic.topic_id, name, local=True)
            await self._database.notify(db, [change])
        self._database.changes.publish([change])
        return TopicInfo(topic.topic_id, topic.name, topic.partitions, dict(configs))
