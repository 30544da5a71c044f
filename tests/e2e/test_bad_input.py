"""Bad input against a live broker: the asserted error code, or that connection closed; others unaffected."""

from __future__ import annotations

import struct

import pytest

from streamhouse.protocol import wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient, produce_body


def _partition_error(response: object) -> int:
    return response.responses[0].partition_responses[0].error_code  # type: ignore[attr-defined]


def _still_serves(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        response = client.request(
            API_VERSIONS, 3, API_VERSIONS.Request(client_software_name="t", client_software_version="1")
        )
        assert response.error_code == ErrorCode.NONE


BAD_FRAMES = {
    "negative size prefix": struct.pack(">i", -1),
    "size over socket.request.max.bytes": struct.pack(">i", 200 * 1024 * 1024),
    "frame shorter than a header": struct.pack(">i", 3) + b"\x00\x12\x00",
    "unknown api key": struct.pack(">i", 10) + struct.pack(">hhih", 999, 0, 1, -1),
    "unsupported Metadata version": struct.pack(">i", 10) + struct.pack(">hhih", 3, 99, 1, -1),
    "truncated Metadata v1 body": struct.pack(">i", 12) + struct.pack(">hhih", 3, 1, 1, -1) + b"\x00\x00",
    "negative client id length": struct.pack(">i", 10) + struct.pack(">hhih", 3, 1, 1, -7),
    "array count beyond the frame": struct.pack(">i", 14) + struct.pack(">hhihi", 3, 1, 1, -1, 1_000_000),
    "over-long varint": struct.pack(">i", 16) + struct.pack(">hhih", 18, 3, 1, -1) + b"\x00" + b"\xff" * 5,
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frame_closes_only_that_connection(broker: BrokerProcess, frame: bytes) -> None:
    with WireClient(broker.bootstrap) as bystander, WireClient(broker.bootstrap) as offender:
        offender.send_raw(frame)
        assert offender.is_closed_by_peer()
        assert bystander.request(METADATA, 1, METADATA.Request(topics=[])).brokers
    _still_serves(broker)


def test_unsupported_api_versions_version_gets_v0_answer_with_unsupported_version(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">i", 12) + struct.pack(">hhih", 18, 77, 5, -1) + b"\x00\x00")
        correlation_id, body = wire.decode_response(API_VERSIONS, 0, client.receive_frame())
        assert correlation_id == 5
        assert body.error_code == ErrorCode.UNSUPPORTED_VERSION
        assert any(entry.api_key == 18 and entry.max_version == 4 for entry in body.api_keys)


def test_produce_with_a_corrupted_batch_gets_corrupt_message(broker: BrokerProcess) -> None:
    batch = bytearray(build_batch([Record(key=b"k", value=b"v")]))
    batch[-1] ^= 0xFF  # inside the CRC-covered bytes
    with WireClient(broker.bootstrap) as client:
        response = client.request(PRODUCE, 9, produce_body("bad-input-crc", bytes(batch)))
        assert _partition_error(response) == ErrorCode.CORRUPT_MESSAGE
        fine = client.request(PRODUCE, 9, produce_body("bad-input-crc", build_batch([Record(key=b"k", value=b"v")])))
        assert _partition_error(fine) == ErrorCode.NONE


def test_produce_with_garbage_records_gets_corrupt_message(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        response = client.request(PRODUCE, 9, produce_body("bad-input-garbage", b"\x00" * 70))
        assert _partition_error(response) == ErrorCode.CORRUPT_MESSAGE


def test_produce_with_invalid_acks_gets_invalid_required_acks(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        response = client.request(PRODUCE, 9, produce_body("bad-input-acks", build_batch([Record(None, b"v")]), acks=2))
        assert _partition_error(response) == ErrorCode.INVALID_REQUIRED_ACKS


def test_produce_above_max_message_bytes_gets_message_too_large(broker: BrokerProcess) -> None:
    big = build_batch([Record(key=None, value=bytes(2 * 1024 * 1024))])
    with WireClient(broker.bootstrap) as client:
        response = client.request(PRODUCE, 9, produce_body("bad-input-large", big))
        assert _partition_error(response) == ErrorCode.MESSAGE_TOO_LARGE


def test_produce_to_an_invalid_topic_name_gets_invalid_topic(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        response = client.request(PRODUCE, 9, produce_body("bad name!", build_batch([Record(None, b"v")])))
        assert _partition_error(response) == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_fetch_for_a_missing_topic_gets_unknown_topic(broker: BrokerProcess) -> None:
    topic = FETCH.Request.FetchTopic
    body = FETCH.Request(
        max_wait_ms=100, min_bytes=1, max_bytes=1 << 20,
        topics=[
            topic(
                topic="never-created",
                partitions=[topic.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)],
            )
        ],
    )  # fmt: skip
    with WireClient(broker.bootstrap) as client:
        response = client.request(FETCH, 12, body)
        assert response.responses[0].partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_fetch_beyond_the_high_watermark_gets_offset_out_of_range(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert (
            _partition_error(
                client.request(PRODUCE, 9, produce_body("bad-input-range", build_batch([Record(None, b"v")])))
            )
            == 0
        )
        topic = FETCH.Request.FetchTopic
        body = FETCH.Request(
            max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
            topics=[
                topic(
                    topic="bad-input-range",
                    partitions=[topic.FetchPartition(partition=0, fetch_offset=5, partition_max_bytes=1 << 20)],
                )
            ],
        )  # fmt: skip
        assert client.request(FETCH, 12, body).responses[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE


def test_trailing_bytes_after_a_request_body_are_ignored_as_kafka_does(broker: BrokerProcess) -> None:
    # librdkafka 2.x sends 3 bytes after an all-topics Metadata v12 body; Kafka answers it.
    with WireClient(broker.bootstrap) as client:
        client.send_raw(
            struct.pack(">i", 18) + struct.pack(">hhih", 3, 12, 9, -1) + b"\x00" + b"\x00\x00\x00\x00" + b"\x01\x00\x00"
        )
        correlation_id, body = wire.decode_response(METADATA, 12, client.receive_frame())
        assert correlation_id == 9 and body.brokers
