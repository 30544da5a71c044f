"""The all-topics Metadata answer, kept encoded topic by topic: after topics are created, grown and
deleted, each version's answer lists exactly the stored topics, and is the very bytes that encoding
its decoded self gives (the pieces put together are a well-formed message of that version)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.handlers import HANDLERS
from streamhouse.broker.server import Connection
from streamhouse.protocol import wire
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.errors import ErrorCode
from tests.broker.inprocess import running_broker

# v1: the first with a null list meaning all topics; v9: the first flexible; v12: the newest served here.
VERSIONS = (1, 9, 12)


async def all_topics(broker: Broker, version: int) -> Any:
    frame = wire.encode_request(METADATA, version, 7, "test", METADATA.Request(topics=None))
    request = wire.decode_request(frame[4:])
    assert isinstance(request, wire.Request)
    answer = await HANDLERS[METADATA.key](broker, request, Connection(broker, broker.listeners[0]))
    assert isinstance(answer, wire.EncodedBody), "the all-topics answer is the shared encoded one"
    frame = wire.encode_response(METADATA, version, 1, answer)
    _, decoded = wire.decode_response(METADATA, version, frame[4:])  # refuses bytes left over
    assert wire.encode_body(METADATA, version, decoded).data == answer.data
    return decoded


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_kept_answer_follows_creates_growth_and_deletes(tmp_path: Path, version: int) -> None:
    async with running_broker(tmp_path) as broker:
        for name in ("b-topic", "d-topic", "f-topic"):
            await broker.topic_admin.create(name, 1, {})
        assert [t.name for t in (await all_topics(broker, version)).topics][2:] == ["b-topic", "d-topic", "f-topic"]
        await broker.topic_admin.create("a-topic", 2, {})  # before every other name
        await broker.topic_admin.create("c-topic", 1, {})  # between two
        await broker.topic_admin.add_partitions("d-topic", 4)
        assert await broker.topic_admin.delete("f-topic") is not None
        decoded = await all_topics(broker, version)
        stored = {topic.name: topic.topic_id for topic in await broker.metadata.topics.list_topics()}
        assert [(t.name, len(t.partitions)) for t in decoded.topics] == [
            ("__consumer_offsets", 50),
            ("__transaction_state", 50),
            ("a-topic", 2),
            ("b-topic", 1),
            ("c-topic", 1),
            ("d-topic", 4),
        ]
        if version >= 10:  # topic ids since v10
            assert {t.name: t.topic_id for t in decoded.topics[2:]} == stored
        assert {t.error_code for t in decoded.topics} == {ErrorCode.NONE}
        assert [p.partition_index for p in decoded.topics[5].partitions] == [0, 1, 2, 3]
