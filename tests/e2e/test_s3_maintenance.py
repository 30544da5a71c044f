"""Compaction into segments and retention on S3, seen from the bucket and through stock clients.

Each test runs a broker of its own on a bucket of its own with a short --compaction-interval-ms, and
watches the bucket's keys while clients produce, consume and change retention.ms.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.clients import confluent_consume
from tests.e2e.dataset import PARTITIONS, Sent, records
from tests.e2e.test_maintenance import (
    HOUR_MS,
    INTERVAL_MS,
    assert_same,
    create_topic,
    now_ms,
    produce_in_flushes,
    read_partition,
    wait_until,
    watermarks,
)
from tests.e2e.test_s3 import bucket_keys
from tests.s3server import S3Server

PREFIX = "maintained"
FLUSHES = 20


@pytest.fixture
def start_broker(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> Iterator[Callable[[int], BrokerProcess]]:
    """Starts the test's broker, compacting every `interval_ms`; stops it cleanly after the test."""
    started: list[BrokerProcess] = []

    def start(interval_ms: int) -> BrokerProcess:
        args = [
            "--compaction-interval-ms", str(interval_ms), "--num-partitions", str(PARTITIONS),
            *s3_server.storage_args(s3_bucket, PREFIX),
        ]  # fmt: skip
        started.append(BrokerProcess(tmp_path / "broker", args).start())
        return started[-1]

    yield start
    for process in started:
        assert process.stop() == 0, process.log_text()[-4000:]


def keys(server: S3Server, bucket: str, under: str = "") -> list[str]:
    return [key for key in bucket_keys(server, bucket) if key.startswith(f"{PREFIX}/{under}")]


def test_compaction_on_s3_leaves_fewer_objects_and_every_record_at_its_offset(
    start_broker: Callable[[int], BrokerProcess], s3_server: S3Server, s3_bucket: str
) -> None:
    # Compaction rewrites flush objects and never merges segments: passes while the flushes are still
    # being produced (slower on S3 than on a folder) would each write segments of their own. A longer
    # interval lets the flushes gather first, as they do with the default of 30 s.
    broker = start_broker(2000)
    topic = "s3-compacted"
    topic_id = create_topic(broker, topic, PARTITIONS)
    # Flush objects whose commit never happened (a broker died between put and commit): the one older
    # than --orphan-object-min-age-ms (an hour by default) goes; the young one may still get committed.
    orphan = f"{PREFIX}/flush/9/{now_ms() - 2 * HOUR_MS:013d}-00000001.obj"
    young = f"{PREFIX}/flush/9/{now_ms():013d}-00000002.obj"
    for key in (orphan, young):
        s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"never committed")
    sent = records(30 * FLUSHES, seed=5)
    t0 = now_ms() - HOUR_MS
    stamped = [(item, t0 + index) for index, item in enumerate(sent)]
    produce_in_flushes(broker, topic, [stamped[start : start + 30] for start in range(0, len(stamped), 30)])

    segments = f"topics/{topic_id}/"
    wait_until(
        lambda: (
            keys(s3_server, s3_bucket, "flush/") == [young]
            and {key.split("/")[3] for key in keys(s3_server, s3_bucket, segments)}
            == {str(p) for p in range(PARTITIONS)}
        ),
        "every flush object is rewritten into segments of each partition or collected, and deleted",
    )
    stored = [key for key in keys(s3_server, s3_bucket) if key != young]
    assert all(key.startswith(f"{PREFIX}/{segments}") and key.endswith(".segment") for key in stored), stored
    assert len(stored) < FLUSHES, f"{len(stored)} objects for {FLUSHES} flushes"

    # Restarted, the broker has no tail or range cache: every record comes from the segments in S3.
    assert broker.restart(signal.SIGTERM) == 0
    assert_same(sent, confluent_consume(broker.bootstrap, topic, len(sent)))
    for partition in range(PARTITIONS):
        expected = [item.value for item in sent if item.partition == partition]
        assert watermarks(broker, topic, partition) == (0, len(expected))


def test_retention_on_s3_deletes_old_segments_and_moves_the_earliest_offset(
    start_broker: Callable[[int], BrokerProcess], s3_server: S3Server, s3_bucket: str
) -> None:
    broker = start_broker(INTERVAL_MS)
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource

    topic = "s3-retained"
    topic_id = create_topic(broker, topic, 1)
    old = now_ms() - HOUR_MS
    sent = [Sent(0, None, b"old-%d" % index) for index in range(30)]
    produce_in_flushes(
        broker, topic, [[(item, old + index) for index, item in enumerate(sent[i : i + 5])] for i in range(0, 30, 5)]
    )
    segments = f"topics/{topic_id}/0/"
    wait_until(
        lambda: not keys(s3_server, s3_bucket, "flush/") and bool(keys(s3_server, s3_bucket, segments)),
        "the old records are compacted into segments",
    )
    old_segments = keys(s3_server, s3_bucket, segments)
    assert watermarks(broker, topic) == (0, 30)

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": str(10 * 60 * 1000)})]) == {
            "topic": {topic: "OK"}
        }
    finally:
        admin.close()
    wait_until(lambda: watermarks(broker, topic) == (30, 30), "ListOffsets earliest moves past the old records")
    wait_until(
        lambda: not set(old_segments) & set(keys(s3_server, s3_bucket)), "the old segments are deleted from the bucket"
    )

    fresh = [Sent(0, None, b"new-%d" % index) for index in range(5)]
    produce_in_flushes(broker, topic, [[(item, now_ms()) for item in fresh]])
    assert watermarks(broker, topic) == (30, 35)
    assert read_partition(broker, topic, 5) == [(30 + index, item.value) for index, item in enumerate(fresh)]
