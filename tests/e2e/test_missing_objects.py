"""An index row whose object is gone from the store, under a running broker (folder and S3, moto).

The object of one partition's batch is deleted behind the broker's back: Fetch answers
KAFKA_STORAGE_ERROR (56) for that partition alone, the other partition is served, the connection
stays open, the error is logged once however often the partition is fetched, and /ready lists
the partition under missing_objects while staying 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, StoredRecord, build_batch, iter_batches, iter_records
from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy
from streamhouse.storage.objects.base import ObjectStore
from tests.brokerproc import BrokerProcess
from tests.e2e.test_features import http_get
from tests.s3server import S3Server
from tests.wireclient import WireClient, produce_body

TOPIC = "vanishing"
TIMEOUT = 30.0
# No cache may answer for the deleted object: every fetch goes to the object store.
UNCACHED = ["--tail-cache-bytes", "0", "--object-cache-bytes", "0", "--read-ahead-bytes", "0"]
NO_MAINTENANCE = ["--compaction-interval-ms", "3600000"]  # compaction would read (and fail on) the object too
MISSING_LOG = "which the object store does not have"

StoreFactory = Callable[[], ObjectStore]


def _on_store(factory: StoreFactory, use: Callable[[ObjectStore], Coroutine[Any, Any, Any]]) -> Any:
    async def run() -> Any:
        store = factory()
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _keys(factory: StoreFactory) -> set[str]:
    async def listed(store: ObjectStore) -> set[str]:
        return set(await store.list(""))

    return set(_on_store(factory, listed))


def _fetch_both(client: WireClient) -> list[Any]:
    fetch_topic = FETCH.Request.FetchTopic
    wanted = [fetch_topic.FetchPartition(partition=p, fetch_offset=0, partition_max_bytes=1 << 20) for p in (0, 1)]
    body = FETCH.Request(
        max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, topics=[fetch_topic(topic=TOPIC, partitions=wanted)]
    )
    return list(client.request(FETCH, 12, body).responses[0].partitions)


def _records(data: bytes) -> list[StoredRecord]:
    return [record for header, batch in iter_batches(data) for record in iter_records(header, batch)]


def _produce(client: WireClient, partition: int) -> None:
    batch = build_batch([Record(b"k", f"value of {partition}".encode())])
    response = client.request(PRODUCE, 9, produce_body(TOPIC, batch, partition=partition))
    assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE


def _check_a_missing_object(broker: BrokerProcess, factory: StoreFactory) -> None:
    with WireClient(broker.bootstrap) as client:
        topic = CREATE_TOPICS.Request.CreatableTopic
        wanted = topic(name=TOPIC, num_partitions=2, replication_factor=1, assignments=[], configs=[])
        assert client.request(CREATE_TOPICS, 7, CREATE_TOPICS.Request(topics=[wanted])).topics[0].error_code == 0
        before = _keys(factory)
        _produce(client, 0)
        (lost,) = _keys(factory) - before  # partition 0's batch: the one flush object since
        _produce(client, 1)  # a flush of its own, after partition 0's was answered

        async def delete(store: ObjectStore) -> None:
            await store.delete([lost])

        _on_store(factory, delete)
        for _ in range(3):
            first, second = _fetch_both(client)
            assert first.error_code == ErrorCode.KAFKA_STORAGE_ERROR
            assert (second.error_code, second.high_watermark) == (ErrorCode.NONE, 1)
            assert [record.value for record in _records(second.records)] == [b"value of 1"]
        # The same connection still answers.
        versions = API_VERSIONS.Request(client_software_name="t", client_software_version="1")
        assert client.request(API_VERSIONS, 3, versions).error_code == ErrorCode.NONE
    status, ready = http_get(broker, "/ready")
    assert status == 200
    assert ready["missing_objects"] == {f"{TOPIC}-0": {"object": lost, "offsets": [0, 0]}}
    assert broker.log_text().count(MISSING_LOG) == 1
    _check_kafka_python_reads_the_other_partition(broker)


def _check_kafka_python_reads_the_other_partition(broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
        received: dict[int, list[bytes]] = {}
        for _ in range(20):
            for partition, records in consumer.poll(timeout_ms=500).items():
                received.setdefault(partition.partition, []).extend(record.value for record in records)
            if 1 in received:
                break
        assert received == {1: [b"value of 1"]}
    finally:
        consumer.close()


def test_a_missing_object_in_a_folder_store(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "broker", [*UNCACHED, *NO_MAINTENANCE]).start()
    try:
        _check_a_missing_object(broker, lambda: FilesystemObjectStore(broker.data_dir / "objects", FsyncPolicy.NEVER))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


def test_a_missing_object_in_s3(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    args = [*s3_server.storage_args(s3_bucket, prefix="streamhouse"), *UNCACHED, *NO_MAINTENANCE]
    broker = BrokerProcess(tmp_path / "broker", args).start()
    try:
        _check_a_missing_object(broker, lambda: s3_server.store(s3_bucket, prefix="streamhouse"))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
