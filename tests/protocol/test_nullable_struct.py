"""A nullable struct field on the wire, as Kafka writes one: an int8 marker (-1 null, 1 present), then the struct."""

from __future__ import annotations

import io

import pytest

from streamhouse.protocol import wire
from streamhouse.protocol.apis.describe_topic_partitions import DESCRIBE_TOPIC_PARTITIONS
from streamhouse.protocol.errors import ProtocolError

Request = DESCRIBE_TOPIC_PARTITIONS.Request
# topics: compact array of one ("t", no tags); response_partition_limit 2000
HEAD = b"\x02" + b"\x02t" + b"\x00" + (2000).to_bytes(4, "big")


def encode(message: object) -> bytes:
    out = io.BytesIO()
    DESCRIBE_TOPIC_PARTITIONS.request.build(message, out, 0)
    return out.getvalue()


def decode(data: bytes) -> object:
    return DESCRIBE_TOPIC_PARTITIONS.request.parse(io.BytesIO(data), 0)


def test_null_cursor() -> None:
    message = Request(topics=[Request.TopicRequest(name="t")], cursor=None)
    assert encode(message) == HEAD + b"\xff" + b"\x00"
    assert decode(HEAD + b"\xff\x00") == message


def test_present_cursor() -> None:
    message = Request(topics=[Request.TopicRequest(name="t")], cursor=Request.Cursor(topic_name="t", partition_index=3))
    wire = HEAD + b"\x01" + b"\x02t" + (3).to_bytes(4, "big") + b"\x00" + b"\x00"
    assert encode(message) == wire
    assert decode(wire) == message


def test_any_negative_marker_is_null() -> None:
    decoded = decode(HEAD + b"\x80\x00")
    assert decoded.cursor is None


def test_missing_marker_is_a_protocol_error() -> None:
    frame = wire.encode_request(DESCRIBE_TOPIC_PARTITIONS, 0, 1, "c", Request(topics=[Request.TopicRequest(name="t")]))
    assert frame.endswith(HEAD + b"\xff\x00")
    with pytest.raises(ProtocolError):
        wire.decode_request(frame[4:-2])
