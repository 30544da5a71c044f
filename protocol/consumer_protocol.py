"""The consumer protocol: the subscription and assignment bytes consumers exchange through a group.

Our declaration of Kafka's ConsumerProtocolSubscription and ConsumerProtocolAssignment, versions
0-3: the metadata of a JoinGroup protocol and the assignment of a SyncGroup, when the protocol
type is "consumer". Each is an int16 version followed by that version's fields, never flexible.
As Kafka reads them, a version newer than ours is read with our newest layout (new versions only
append fields) and bytes after the fields we know are ignored.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

from streamhouse.protocol.codec import MessageCodec
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.schema import F, VersionRange

PROTOCOL_TYPE = "consumer"
MAX_VERSION = 3

_NEVER_FLEXIBLE = VersionRange.parse("none")
_VERSION = struct.Struct(">h")

SUBSCRIPTION = MessageCodec(
    "ConsumerProtocolSubscription",
    (
        F("topics", "[]string"),
        F("user_data", "bytes", nullable="0+", default=None),
        F(
            "owned_partitions",
            "[]TopicPartition",
            "1+",
            F("topic", "string", "1+"),
            F("partitions", "[]int32", "1+"),
            ignorable=True,
        ),
        F("generation_id", "int32", "2+", default=-1, ignorable=True),
        F("rack_id", "string", "3+", nullable="3+", default=None, ignorable=True),
    ),
    _NEVER_FLEXIBLE,
)
ASSIGNMENT = MessageCodec(
    "ConsumerProtocolAssignment",
    (
        F(
            "assigned_partitions",
            "[]TopicPartition",
            "0+",
            F("topic", "string"),
            F("partitions", "[]int32"),
        ),
        F("user_data", "bytes", nullable="0+", default=None),
    ),
    _NEVER_FLEXIBLE,
)
Subscription: Any = SUBSCRIPTION.cls
Assignment: Any = ASSIGNMENT.cls


def encode(codec: MessageCodec, message: Any, version: int = MAX_VERSION) -> bytes:
    """The version prefix and the message's fields at that version."""
    io = BytesIO()
    io.write(_VERSION.pack(version))
    codec.build(message, io, version)
    return io.getvalue()


def decode(codec: MessageCodec, data: bytes) -> tuple[int, Any]:
    """(the version the bytes declare, the message); ProtocolError for bytes that are not one."""
    if len(data) < _VERSION.size:
        raise ProtocolError(f"{len(data)} bytes cannot hold a consumer protocol version")
    (version,) = _VERSION.unpack_from(data)
    if version < 0:
        raise ProtocolError(f"consumer protocol version {version} is negative")
    try:
        message = codec.parse(BytesIO(data[_VERSION.size :]), min(version, MAX_VERSION))
    except struct.error as exc:
        raise ProtocolError(f"truncated consumer protocol message: {exc}") from None
    return version, message
