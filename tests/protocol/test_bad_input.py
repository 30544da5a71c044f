"""Malformed bytes raise ProtocolError (unknown key/version give UnsupportedRequest), never anything else."""

from __future__ import annotations

import random
import struct
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhouse.protocol import primitives, wire
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.registry import APIS


def _api_versions_v3_frame() -> bytes:
    api = APIS[18]
    body = api.Request(client_software_name="streamhouse-test", client_software_version="1.0")
    return wire.encode_request(api, 3, 42, "client", body)[4:]


def _header(api_key: int, version: int, correlation_id: int = 7, client_id: bytes = b"c") -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


def test_every_truncation_of_a_valid_frame_is_a_protocol_error() -> None:
    frame = _api_versions_v3_frame()
    assert isinstance(wire.decode_request(frame), wire.Request)
    for cut in range(len(frame)):
        with pytest.raises(ProtocolError):
            wire.decode_request(frame[:cut])


def test_trailing_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="trailing"):
        wire.decode_request(_api_versions_v3_frame() + b"\x00")


def test_unknown_api_key_is_an_unsupported_request_without_api() -> None:
    decoded = wire.decode_request(_header(999, 0, correlation_id=5))
    assert decoded == wire.UnsupportedRequest(api_key=999, api_version=0, correlation_id=5, api=None)


def test_unsupported_version_is_an_unsupported_request_naming_the_api() -> None:
    decoded = wire.decode_request(_header(18, 99, correlation_id=6) + b"\x00")
    assert isinstance(decoded, wire.UnsupportedRequest)
    assert decoded.api is APIS[18] and decoded.api_version == 99 and decoded.correlation_id == 6


def test_negative_string_length_is_a_protocol_error() -> None:
    # ApiVersions v1 header with client_id length -2 (only -1 means null).
    frame = struct.pack(">hhih", 18, 1, 1, -2)
    with pytest.raises(ProtocolError, match="invalid length -2"):
        wire.decode_request(frame)


def test_null_in_a_non_nullable_compact_string_is_a_protocol_error() -> None:
    # ApiVersions v3 body: client_software_name compact length 0 means null, not allowed.
    frame = _header(18, 3) + b"\x00" + b"\x00\x01\x00"
    with pytest.raises(ProtocolError, match="invalid length -1"):
        wire.decode_request(frame)


@pytest.mark.parametrize(
    ("reader", "data", "message"),
    [
        (primitives.read_uvarint, b"\x80\x80\x80\x80\x80\x01", "longer than 5"),
        (primitives.read_uvarint, b"\xff\xff\xff\xff\x7f", "above 32 bits"),
        (primitives.read_varint, b"\x80\x80\x80\x80\x80\x01", "longer than 5"),
        (primitives.read_varlong, b"\x80" * 10 + b"\x01", "longer than 10"),
        (primitives.read_uvarint, b"\x80", "truncated"),
        (primitives.read_bool, b"\x02", "boolean"),
        (primitives.read_uuid, b"\x00" * 15, "needed 16"),
    ],
)
def test_bounded_primitives_reject_bad_bytes(reader: object, data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        reader(BytesIO(data))  # type: ignore[operator]


def test_varints_round_trip_at_their_bounds() -> None:
    for write, read, values in (
        (primitives.write_uvarint, primitives.read_uvarint, [0, 1, 127, 128, 2**32 - 1]),
        (primitives.write_varint, primitives.read_varint, [0, -1, 1, -(2**31), 2**31 - 1]),
        (primitives.write_varlong, primitives.read_varlong, [0, -1, -(2**63), 2**63 - 1]),
    ):
        for value in values:
            io = BytesIO()
            write(io, value)  # type: ignore[operator]
            io.seek(0)
            assert read(io) == value  # type: ignore[operator]


def test_array_count_larger_than_the_bytes_left_is_a_protocol_error() -> None:
    api = APIS[18]
    response = api.Response(error_code=0, api_keys=[api.Response.ApiVersion(api_key=1, min_version=0, max_version=1)])
    frame = bytearray(wire.encode_response(api, 1, 1, response)[4:])
    struct.pack_into(">i", frame, 6, 1_000_000)  # after correlation id (4) and error code (2)
    with pytest.raises(ProtocolError):
        wire.decode_response(api, 1, bytes(frame))


def test_tagged_fields_out_of_order_are_a_protocol_error() -> None:
    # ApiVersions v3 request body with tags 5 then 3.
    body = b"\x02a\x02b" + b"\x02" + b"\x05\x01x" + b"\x03\x01y"
    with pytest.raises(ProtocolError, match="out of order"):
        wire.decode_request(_header(18, 3) + b"\x00" + body)


def test_unknown_tags_are_preserved_and_known_tags_decoded() -> None:
    api = APIS[18]
    response = api.Response(finalized_features_epoch=9, unknown_tags={77: b"kept"})
    frame = wire.encode_response(api, 3, 1, response)
    _, decoded = wire.decode_response(api, 3, frame[4:])
    assert decoded.finalized_features_epoch == 9
    assert decoded.unknown_tags == {77: b"kept"}


def test_known_tag_with_a_wrong_size_is_a_protocol_error() -> None:
    # ApiVersions v3 response: tag 1 (int64) declared as 9 bytes.
    body = b"\x00\x00" + b"\x01" + b"\x00\x00\x00\x00" + b"\x01" + b"\x01\x09" + b"\x00" * 9
    with pytest.raises(ProtocolError, match="declared 9 bytes"):
        wire.decode_response(APIS[18], 3, b"\x00\x00\x00\x01" + body)


def test_frame_decoder_splits_frames_fed_byte_by_byte() -> None:
    frames = [_api_versions_v3_frame(), b"x" * 10, b""]
    stream = b"".join(struct.pack(">i", len(frame)) + frame for frame in frames)
    decoder = wire.FrameDecoder()
    received = []
    for index in range(len(stream)):
        received.extend(decoder.feed(stream[index : index + 1]))
    assert received == frames
    assert decoder.pending == 0


def test_frame_decoder_rejects_a_size_over_the_maximum_and_negative_sizes() -> None:
    with pytest.raises(ProtocolError, match="frame size 1025"):
        wire.FrameDecoder(max_frame_size=1024).feed(struct.pack(">i", 1025))
    with pytest.raises(ProtocolError, match="frame size -5"):
        wire.FrameDecoder().feed(struct.pack(">i", -5))


def _valid_frames() -> list[bytes]:
    """One default-valued request frame per served (api, version)."""
    frames = []
    for api in APIS.values():
        for version in range(api.min_version, api.max_version + 1):
            frames.append(wire.encode_request(api, version, 1, "fuzz", api.Request())[4:])
    return frames


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        position = rng.randrange(len(data) + 1)
        if choice < 0.4 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.6:
            del data[position:]
        elif choice < 0.8:
            data[position:position] = rng.randbytes(rng.randint(1, 8))
        else:
            data[position : position + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80" * 6])
    return bytes(data)


def test_fuzz_100k_random_and_mutated_frames_give_only_protocol_errors_or_results() -> None:
    rng = random.Random(20261123)
    seeds = _valid_frames()
    outcomes = {"decoded": 0, "unsupported": 0, "protocol_error": 0}
    for iteration in range(100_000):
        random_bytes = iteration % 10 == 0
        frame = rng.randbytes(rng.randint(0, 64)) if random_bytes else _mutate(rng, rng.choice(seeds))
        try:
            decoded = wire.decode_request(frame)
        except ProtocolError:
            outcomes["protocol_error"] += 1
        else:
            outcomes["unsupported" if isinstance(decoded, wire.UnsupportedRequest) else "decoded"] += 1
    # Every path must have been exercised for the run to mean anything.
    assert all(count > 1000 for count in outcomes.values()), outcomes


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=40),
)
def test_frame_decoder_returns_the_frames_whatever_the_chunks_and_frame_sizes(
    sizes: list[int], cuts: list[int]
) -> None:
    """Frames smaller and larger than the read buffer (64 bytes here) and than a large frame's first
    piece (100 bytes: larger ones are received in several pieces), received in arbitrary chunks."""
    frames = [bytes([index % 251]) * size for index, size in enumerate(sizes)]
    stream = b"".join(struct.pack(">i", len(frame)) + frame for frame in frames)
    decoder = wire.FrameDecoder(read_size=64, piece_size=100)
    received: list[bytes] = []
    position, cut = 0, 0
    while position < len(stream):
        step = cuts[cut % len(cuts)]
        cut += 1
        received += map(bytes, decoder.feed(stream[position : position + step]))
        position += step
    assert received == frames
    assert decoder.pending == 0


def test_frame_decoder_receives_a_large_frame_into_its_own_buffer_in_place() -> None:
    decoder = wire.FrameDecoder(read_size=64, piece_size=1000)
    decoder.feed(struct.pack(">i", 1000) + b"a" * 10)
    target = decoder.buffer()
    assert len(target) == 990  # the rest of the frame, nothing more: received straight into the frame
    target[:990] = b"b" * 990
    target.release()
    (frame,) = decoder.received(990)
    assert frame == b"a" * 10 + b"b" * 990
    assert decoder.pending == 0


def test_a_frame_header_claiming_the_maximum_takes_memory_only_as_its_bytes_arrive() -> None:
    """A client sending only `size = 100 MiB` costs the first piece (1 MiB), not 100 MiB."""
    decoder = wire.FrameDecoder()
    assert decoder.feed(struct.pack(">i", wire.DEFAULT_MAX_FRAME_SIZE)) == []
    assert len(decoder.buffer()) == wire.LARGE_FRAME_PIECE_SIZE
    decoder.feed(bytes(wire.LARGE_FRAME_PIECE_SIZE))
    assert len(decoder.buffer()) == wire.LARGE_FRAME_PIECE_SIZE  # the next piece doubles what it holds
    assert decoder.pending == wire.LARGE_FRAME_PIECE_SIZE
