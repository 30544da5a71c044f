"""The consumer protocol's subscription and assignment bytes: round trips, a stock client's bytes, bad input."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhouse.protocol.codec import MessageCodec
from streamhouse.protocol.consumer_protocol import (
    ASSIGNMENT,
    MAX_VERSION,
    SUBSCRIPTION,
    Assignment,
    Subscription,
    decode,
    encode,
)
from streamhouse.protocol.errors import ProtocolError
from tests.protocol.strategies import message_value

CODECS = [pytest.param(SUBSCRIPTION, id="subscription"), pytest.param(ASSIGNMENT, id="assignment")]
VERSIONS = range(MAX_VERSION + 1)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_round_trip(codec: MessageCodec, version: int, data: st.DataObject) -> None:
    message = data.draw(message_value(codec, version))
    assert decode(codec, encode(codec, message, version)) == (version, message)


def kafka_python_subscription(version: int) -> Any:
    from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription as Theirs

    fields: dict[str, Any] = {"topics": ["orders", "payments"], "user_data": b"data"}
    if version >= 1:
        fields["owned_partitions"] = [Theirs.TopicPartition(topic="orders", partitions=[0, 2])]
    if version >= 2:
        fields["generation_id"] = 7
    if version >= 3:
        fields["rack_id"] = "rack-a"
    return Theirs(version=version, **fields)


@pytest.mark.parametrize("version", VERSIONS)
def test_subscriptions_of_kafka_python_both_ways(version: int) -> None:
    theirs = kafka_python_subscription(version)
    found_version, ours = decode(SUBSCRIPTION, theirs.encode())
    assert found_version == version
    assert (ours.topics, ours.user_data) == (["orders", "payments"], b"data")
    owned = [(tp.topic, tp.partitions) for tp in ours.owned_partitions]
    assert owned == ([("orders", [0, 2])] if version >= 1 else [])
    assert (ours.generation_id, ours.rack_id) == ((7 if version >= 2 else -1), ("rack-a" if version >= 3 else None))
    assert encode(SUBSCRIPTION, ours, version) == theirs.encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_assignments_of_kafka_python_both_ways(version: int) -> None:
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment as Theirs

    theirs = Theirs(
        version=version,
        assigned_partitions=[Theirs.TopicPartition(topic="orders", partitions=[1, 3])],
        user_data=None,
    )
    ours = Assignment(assigned_partitions=[Assignment.TopicPartition(topic="orders", partitions=[1, 3])])
    assert decode(ASSIGNMENT, theirs.encode()) == (version, ours)
    assert encode(ASSIGNMENT, ours, version) == theirs.encode()


def test_a_newer_version_is_read_with_our_newest_layout() -> None:
    message = Subscription(topics=["t"], owned_partitions=[], generation_id=3, rack_id="r")
    newer = struct.pack(">h", MAX_VERSION + 4) + encode(SUBSCRIPTION, message)[2:] + b"fields we do not know"
    assert decode(SUBSCRIPTION, newer) == (MAX_VERSION + 4, message)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        struct.pack(">h", -1) + b"\x00" * 8,
        encode(ASSIGNMENT, Assignment())[:-1],
        struct.pack(">hi", 0, 1000),
    ],
    ids=["empty", "half a version", "negative version", "truncated", "array beyond the end"],
)
def test_bytes_that_are_not_an_assignment(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(ASSIGNMENT, data)
