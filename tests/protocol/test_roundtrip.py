"""decode(encode(x)) == x for every declared API, version and direction, frames and headers included."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamhouse.protocol import wire
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.errors import EncodeError
from streamhouse.protocol.primitives import SPLICE_MIN_BYTES, SplicingWriter
from streamhouse.protocol.registry import APIS
from tests.protocol.strategies import message_value

CASES = [
    pytest.param(api, version, id=f"{api.name}-v{version}")
    for api in sorted(APIS.values(), key=lambda api: api.key)
    for version in range(api.min_version, api.max_version + 1)
]

ROUND_TRIP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("api", "version"), CASES)
@ROUND_TRIP
@given(data=st.data())
def test_request_round_trip(api: ApiCodec, version: int, data: st.DataObject) -> None:
    body = data.draw(message_value(api.request, version))
    client_id = data.draw(st.none() | st.text(max_size=8))
    correlation_id = data.draw(st.integers(-(2**31), 2**31 - 1))
    frame = wire.encode_request(api, version, correlation_id, client_id, body)
    decoded = wire.decode_request(frame[4:])
    assert isinstance(decoded, wire.Request)
    assert decoded.api is api and decoded.version == version
    assert decoded.header.correlation_id == correlation_id
    assert decoded.header.client_id == client_id
    assert decoded.body == body


@pytest.mark.parametrize(("api", "version"), CASES)
@ROUND_TRIP
@given(data=st.data())
def test_response_round_trip(api: ApiCodec, version: int, data: st.DataObject) -> None:
    body = data.draw(message_value(api.response, version))
    correlation_id = data.draw(st.integers(-(2**31), 2**31 - 1))
    frame = wire.encode_response(api, version, correlation_id, body)
    assert int.from_bytes(frame[:4], "big", signed=True) == len(frame) - 4
    assert wire.decode_response(api, version, frame[4:]) == (correlation_id, body)


def _absent_fields(api: ApiCodec, version: int, ignorable: bool) -> list[tuple[str, str, Any]]:
    """Top-level fields a version cannot carry, with a value that is not their default."""
    found = []
    for direction, codec in (("request", api.request), ("response", api.response)):
        default = codec.cls()
        for field in codec.fields:
            if version in field.versions or field.ignorable != ignorable:
                continue
            if field.is_array:
                other: Any = [] if getattr(default, field.name) is None else None
            elif field.type in ("string",):
                other = "not-the-default"
            elif field.type in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
                other = 1 if getattr(default, field.name) != 1 else 2
            elif field.type == "bool":
                other = not getattr(default, field.name)
            else:
                continue
            found.append((direction, field.name, other))
    return found


@pytest.mark.parametrize(("api", "version"), CASES)
def test_field_the_version_cannot_carry_is_an_encode_error(api: ApiCodec, version: int) -> None:
    for direction, name, value in _absent_fields(api, version, ignorable=False):
        codec = api.request if direction == "request" else api.response
        message = codec.cls(**{name: value})
        with pytest.raises(EncodeError, match=name):
            if direction == "request":
                wire.encode_request(api, version, 1, None, message)
            else:
                wire.encode_response(api, version, 1, message)


@pytest.mark.parametrize(("api", "version"), CASES)
def test_ignorable_field_the_version_cannot_carry_is_dropped(api: ApiCodec, version: int) -> None:
    """As Kafka's "ignorable" fields: a newer field set by a handler vanishes in older versions."""
    for direction, name, value in _absent_fields(api, version, ignorable=True):
        codec = api.request if direction == "request" else api.response
        message = codec.cls(**{name: value})
        if direction == "request":
            decoded = wire.decode_request(wire.encode_request(api, version, 1, None, message)[4:])
            assert isinstance(decoded, wire.Request)
            body = decoded.body
        else:
            body = wire.decode_response(api, version, wire.encode_response(api, version, 1, message)[4:])[1]
        assert getattr(body, name) == getattr(codec.cls(), name)


@pytest.mark.parametrize(("api", "version"), CASES)
def test_compiled_codecs_never_fall_back_to_linked_instances(api: ApiCodec, version: int) -> None:
    for codec in (api.request, api.response):
        source = codec.compiled(version).source
        assert "linkedparsers[" not in source
        assert "linkedbuilders[" not in source


def test_every_api_the_issue_names_is_registered_with_its_versions() -> None:
    expected = {
        18: (0, 4), 3: (0, 12), 0: (3, 12), 1: (4, 17), 2: (1, 11), 10: (0, 6), 11: (0, 9), 14: (0, 5),
        12: (0, 4), 13: (0, 5), 8: (2, 9), 9: (1, 9), 15: (0, 6), 16: (0, 5), 42: (0, 2), 19: (2, 7),
        20: (1, 6), 37: (0, 3), 32: (1, 4), 33: (0, 2), 44: (0, 1), 21: (0, 2), 22: (0, 5), 60: (0, 1),
        23: (2, 4), 17: (0, 1), 36: (0, 2), 47: (0, 0), 50: (0, 0), 51: (0, 0),  # 50, 51: SCRAM users
        34: (1, 2), 35: (1, 4), 43: (0, 2), 45: (0, 1), 46: (0, 0), 55: (0, 2), 74: (0, 1), 75: (0, 0),
        24: (0, 5), 25: (0, 4), 26: (0, 5), 28: (0, 5), 65: (0, 0), 66: (0, 1),  # transactions
        29: (1, 3), 30: (1, 3), 31: (1, 3),  # ACLs
        71: (0, 0), 72: (0, 0),  # client telemetry
        68: (0, 1), 69: (0, 1),  # KIP-848 consumer groups
        76: (1, 1), 77: (1, 1), 78: (1, 1), 79: (1, 1), 90: (0, 1), 91: (0, 0), 92: (0, 0),  # share groups
    }  # fmt: skip
    assert {key: (api.min_version, api.max_version) for key, api in APIS.items()} == expected


@pytest.mark.parametrize("version", range(FETCH.min_version, FETCH.max_version + 1))
def test_a_record_set_in_pieces_is_written_as_their_join_the_large_ones_by_reference(version: int) -> None:
    first_large, second_large = bytes(range(256)) * 16, bytes(SPLICE_MIN_BYTES)  # 4096 B each: the bound itself
    small = b"s" * (SPLICE_MIN_BYTES - 1)
    pieces = [first_large, small, second_large, small]
    data = FETCH.Response.FetchableTopicResponse

    def response(records: list[bytes] | bytes) -> Any:
        partitions = [
            data.PartitionData(partition_index=0, high_watermark=9, records=records),
            data.PartitionData(partition_index=1, high_watermark=9, records=small),
        ]
        return FETCH.Response(responses=[data(topic="t", partitions=partitions)])

    parts = wire.encode_response_parts(FETCH, version, 7, response(pieces))
    whole = wire.encode_response(FETCH, version, 7, response(b"".join(pieces)))
    assert b"".join(parts) == whole == wire.encode_response(FETCH, version, 7, response(pieces))
    assert [part for part in parts if part is first_large or part is second_large] == [first_large, second_large]
    assert not any(part is small for part in parts)  # copied into the frame's own bytes
    assert SplicingWriter.spliced == []  # each writer splices into a list of its own
    _, decoded = wire.decode_response(FETCH, version, whole[4:])
    assert [bytes(p.records) for p in decoded.responses[0].partitions] == [b"".join(pieces), small]
