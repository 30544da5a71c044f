"""ErrorCode matches Kafka's Errors enum: codes, names and retriable flags."""

from __future__ import annotations

import pytest

from streamhouse.protocol.errors import ErrorCode

# (name, code, retriable) as in Kafka's Errors.java and the protocol guide's error table.
KNOWN = [
    ("UNKNOWN_SERVER_ERROR", -1, False),
    ("NONE", 0, False),
    ("OFFSET_OUT_OF_RANGE", 1, False),
    ("CORRUPT_MESSAGE", 2, True),
    ("UNKNOWN_TOPIC_OR_PARTITION", 3, True),
    ("LEADER_NOT_AVAILABLE", 5, True),
    ("NOT_LEADER_OR_FOLLOWER", 6, True),
    ("REQUEST_TIMED_OUT", 7, True),
    ("MESSAGE_TOO_LARGE", 10, False),
    ("NOT_COORDINATOR", 16, True),
    ("INVALID_TOPIC_EXCEPTION", 17, False),
    ("INVALID_REQUIRED_ACKS", 21, False),
    ("REBALANCE_IN_PROGRESS", 27, False),
    ("TOPIC_AUTHORIZATION_FAILED", 29, False),
    ("UNSUPPORTED_VERSION", 35, False),
    ("TOPIC_ALREADY_EXISTS", 36, False),
    ("OUT_OF_ORDER_SEQUENCE_NUMBER", 45, False),
    ("INVALID_PRODUCER_EPOCH", 47, False),
    ("KAFKA_STORAGE_ERROR", 56, True),
    ("FENCED_LEADER_EPOCH", 74, True),
    ("INVALID_RECORD", 87, False),
    ("THROTTLING_QUOTA_EXCEEDED", 89, True),
    ("UNKNOWN_TOPIC_ID", 100, True),
    ("INVALID_REGULAR_EXPRESSION", 128, False),
    ("SHARE_SESSION_LIMIT_REACHED", 133, True),
]


@pytest.mark.parametrize(("name", "code", "retriable"), KNOWN, ids=[name for name, _, _ in KNOWN])
def test_known_codes_match_kafka(name: str, code: int, retriable: bool) -> None:
    member = ErrorCode[name]
    assert member == code
    assert ErrorCode(code) is member
    assert member.retriable is retriable


def test_members_are_plain_ints_for_the_wire() -> None:
    assert ErrorCode.CORRUPT_MESSAGE + 0 == 2
    assert int(ErrorCode.UNKNOWN_SERVER_ERROR) == -1
    assert isinstance(ErrorCode.NONE, int)


def test_codes_are_unique_and_cover_minus_one_to_the_highest() -> None:
    codes = [member.value for member in ErrorCode]
    assert len(ErrorCode.__members__) == len(codes) == len(set(codes))
    assert set(codes) == set(range(-1, 134)) - {99}


def test_every_member_has_a_bool_retriable_flag() -> None:
    assert all(isinstance(member.retriable, bool) for member in ErrorCode)


def test_unknown_code_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ErrorCode(99)
