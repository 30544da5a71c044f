"""The topics role of the embedded store (metadata.roles.TopicStore)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from uuid import UUID

from streamhouse.metadata import sql
from streamhouse.metadata.base import (
    InvalidPartitionsError,
    TopicChange,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
)
from streamhouse.metadata.gil import sharing_the_gil
from streamhouse.metadata.sqlite.database import Row, SqliteDatabase, now_ms


def _topic(row: Row) -> TopicInfo:
    return TopicInfo(UUID(hex=row[0]), row[1], row[2], json.loads(row[3]))


def _topic_row(connection: sqlite3.Connection, name: str) -> Row | None:
    row: Row | None = connection.execute(sql.TOPIC_BY_NAME, (name,)).fetchone()
    return row


def _existing_topic(connection: sqlite3.Connection, name: str) -> TopicInfo:
    row = _topic_row(connection, name)
    if row is None:
        raise UnknownTopicError(name)
    return _topic(row)


def _insert_partitions(connection: sqlite3.Connection, topic_hex: str, partitions: range) -> None:
    connection.executemany(
        "INSERT INTO partitions (topic_id, partition, log_start_offset, high_watermark) VALUES (?, ?, 0, 0)",
        [(topic_hex, partition) for partition in partitions],
    )


class SqliteTopics:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def create_topic(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        if partitions < 1:
            raise InvalidPartitionsError(f"a topic needs at least one partition, not {partitions}")
        topic = TopicInfo(uuid.uuid4(), name, partitions, dict(configs))

        def create(connection: sqlite3.Connection) -> None:
            if _topic_row(connection, name) is not None:
                raise TopicExistsError(name)
            connection.execute(
                "INSERT INTO topics (topic_id, name, partitions, configs, created_ms) VALUES (?, ?, ?, ?, ?)",
                (topic.topic_id.hex, name, partitions, json.dumps(topic.configs, sort_keys=True), now_ms()),
            )
            _insert_partitions(connection, topic.topic_id.hex, range(partitions))

        await self._database.transaction(create)
        self._database.changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return topic

    async def get_topic(self, name: str) -> TopicInfo | None:
        rows = await self._database.fetch(sql.TOPIC_BY_NAME, (name,))
        return _topic(rows[0]) if rows else None

    async def get_topic_by_id(self, topic_id: UUID) -> TopicInfo | None:
        rows = await self._database.fetch(sql.TOPIC_BY_ID, (topic_id.hex,))
        return _topic(rows[0]) if rows else None

    async def list_topics(self) -> list[TopicInfo]:
        # Made on the database's thread: tens of thousands of topics are too many to make on the event loop.
        def listed(connection: sqlite3.Connection) -> list[TopicInfo]:
            rows = connection.execute(f"SELECT {sql.TOPIC_COLUMNS} FROM topics ORDER BY name")
            return [_topic(row) for row in sharing_the_gil(rows)]

        return await self._database.run(listed)

    async def delete_topic(self, name: str) -> TopicInfo:
        def delete(connection: sqlite3.Connection) -> TopicInfo:
            topic = _existing_topic(connection, name)
            for statement in sql.DELETE_TOPIC_ROWS:
                connection.execute(statement, (topic.topic_id.hex,))
            connection.execute(sql.DELETE_TOPIC_OFFSETS, (name,))
            return topic

        topic = await self._database.transaction(delete)
        self._database.changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return topic

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        def grow(connection: sqlite3.Connection) -> TopicInfo:
            topic = _existing_topic(connection, name)
            if count <= topic.partitions:
                raise InvalidPartitionsError(
                    f"topic {name!r} has {topic.partitions} partitions; {count} does not grow it"
                )
            connection.execute(sql.SET_PARTITION_COUNT, (count, topic.topic_id.hex))
            _insert_partitions(connection, topic.topic_id.hex, range(topic.partitions, count))
            return topic

        topic = await self._database.transaction(grow)
        self._database.changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return TopicInfo(topic.topic_id, topic.name, count, topic.configs)

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        def configure(connection: sqlite3.Connection) -> TopicInfo:
            topic = _existing_topic(connection, name)
            connection.execute(
                "UPDATE topics SET configs = ? WHERE topic_id = ?",
                (json.dumps(dict(configs), sort_keys=True), topic.topic_id.hex),
            )
            return topic

        topic = await self._database.transaction(configure)
        self._database.changes.publish([TopicChange(topic.topic_id, name, local=True)])
        return TopicInfo(topic.topic_id, topic.name, topic.partitions, dict(configs))
