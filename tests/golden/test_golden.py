"""Requests captured from real clients decode field by field.

The fixtures were written by `python -m tests.golden.capture` (kafka-python 3.0.12,
confluent-kafka 2.16.1 / librdkafka 2.16.0, kcat 1.7 / librdkafka 2.0.2); the live test runs
the installed clients against the capture server once more and decodes what they send now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamhouse.protocol import wire
from streamhouse.protocol.records import iter_batches, iter_records
from tests.golden.capture import CLIENTS, FIXTURES, PRODUCED, TOPIC, capture

KAFKA_PYTHON_KEYS = [(b"key-1", b"value-1"), (None, b"value-2"), (b"key-3", None)]
KCAT_KEYS = [(b"key-1", b"value-1"), (None, b"value-2")]


def decode(path: Path) -> Any:
    decoded = wire.decode_request(path.read_bytes())
    assert isinstance(decoded, wire.Request), decoded
    return decoded


def produced(request: Any) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]]:
    (topic,) = request.body.topic_data
    assert topic.name == TOPIC
    (partition,) = topic.partition_data
    assert partition.index == 0
    assert isinstance(partition.records, memoryview)
    return [
        (record.key, record.value, record.headers)
        for header, batch in iter_batches(partition.records)
        for record in iter_records(header, batch)
    ]


def check_api_versions(request: Any, client: str) -> None:
    expected = {"kafka-python": "kafka-python", "confluent-kafka": "confluent-kafka-python", "kcat": "librdkafka"}
    assert request.body.client_software_name == expected[client]
    assert request.body.client_software_version


def check_metadata(request: Any, client: str) -> None:
    names = [topic.name for topic in request.body.topics]
    # kafka-python's first Metadata asks for no topic (cluster only); librdkafka's names the topic.
    assert names == ([] if client == "kafka-python" else [TOPIC])
    assert request.body.allow_auto_topic_creation is True


def check_produce(request: Any, client: str) -> None:
    assert request.body.acks == -1
    assert request.body.timeout_ms == 30000
    assert request.body.transactional_id is None
    expected = KCAT_KEYS if client == "kcat" else PRODUCED
    assert produced(request) == [(key, value, [("h", b"v")]) for key, value in expected]


def check_fetch(request: Any, client: str) -> None:
    body = request.body
    assert body.max_wait_ms == 500 and body.min_bytes == 1 and body.max_bytes == 52428800
    (topic,) = body.topics
    assert topic.topic == TOPIC
    (partition,) = topic.partitions
    assert partition.partition == 0 and partition.fetch_offset == 0 and partition.partition_max_bytes > 0
    # librdkafka asks for read_committed by default, kafka-python for read_uncommitted.
    assert body.isolation_level == (0 if client == "kafka-python" else 1)


def check_list_offsets(request: Any, client: str) -> None:
    (topic,) = request.body.topics
    assert topic.name == TOPIC
    (partition,) = topic.partitions
    assert partition.partition_index == 0 and partition.timestamp == -1  # "latest": auto_offset_reset default


def check_init_producer_id(request: Any, client: str) -> None:
    assert request.body.transactional_id is None and request.body.producer_id == -1


CHECKS = {
    "ApiVersions": check_api_versions,
    "Metadata": check_metadata,
    "Produce": check_produce,
    "Fetch": check_fetch,
    "ListOffsets": check_list_offsets,
    "InitProducerId": check_init_producer_id,
}
EXPECTED_FIXTURES = {
    "kafka-python": {
        "ApiVersions-v3",
        "Metadata-v12",
        "InitProducerId-v4",
        "Produce-v9",
        "ListOffsets-v7",
        "Fetch-v12",
    },
    "confluent-kafka": {"ApiVersions-v3", "Metadata-v12", "Produce-v9", "Fetch-v12"},
    "kcat": {"ApiVersions-v3", "Metadata-v4", "Produce-v7", "Fetch-v11"},
}
FIXTURE_FILES = sorted(path for path in FIXTURES.glob("*.bin") if not path.name.endswith("ApiVersions-v4.bin"))


def _client_and_api(name: str) -> tuple[str, str]:
    client = next(client for client in CLIENTS if name.startswith(client + "-"))
    return client, name[len(client) + 1 :].split("-v")[0]


def test_every_client_has_a_fixture_per_api_it_sends() -> None:
    for client, expected in EXPECTED_FIXTURES.items():
        present = {path.stem[len(client) + 1 :] for path in FIXTURES.glob(f"{client}-*.bin")}
        assert expected <= present, (client, expected - present)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[path.stem for path in FIXTURE_FILES])
def test_captured_request_decodes_field_by_field(path: Path) -> None:
    client, api = _client_and_api(path.stem)
    request = decode(path)
    assert request.api.name == api
    assert request.header.client_id in ("rdkafka", "kafka-python-producer-1", "kafka-python-3.0.12")
    CHECKS[api](request, client)


def test_kafka_python_apiversions_v4_decodes() -> None:
    decoded = decode(FIXTURES / "kafka-python-ApiVersions-v4.bin")
    assert (decoded.api.name, decoded.version) == ("ApiVersions", 4)
    assert (decoded.body.client_software_name, decoded.body.client_software_version) == ("kafka-python", "3.0.12")


@pytest.mark.slow
@pytest.mark.parametrize("client", list(CLIENTS))
def test_live_capture_of_installed_clients_decodes(client: str) -> None:
    frames = capture(client)
    apis = set()
    for frame in frames.values():
        decoded = wire.decode_request(frame)
        if isinstance(decoded, wire.UnsupportedRequest):
            continue
        apis.add(decoded.api.name)
        CHECKS[decoded.api.name](decoded, client)
    assert {"ApiVersions", "Metadata", "Produce", "Fetch"} <= apis
