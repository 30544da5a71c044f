"""The read path on S3 through a stock consumer: read-ahead for a consumer catching up, and --cache-dir.

The broker reaches S3 through tests/faultproxy.py, so that the test can take S3 away and show that a
restarted broker serves what its disk cache holds without it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.brokerproc import BrokerProcess
from tests.e2e.dataset import Sent
from tests.e2e.test_maintenance import produce_in_flushes, read_partition, wait_until
from tests.faultproxy import FaultProxy
from tests.s3server import S3Server

FLUSHES = 30
PER_FLUSH = 10


def cached_ranges(folder: Path) -> int:
    return len(list(folder.glob("*.range"))) if folder.exists() else 0


def test_a_catching_up_consumer_is_read_ahead_for_and_the_disk_cache_outlives_a_restart(
    s3_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    cache = tmp_path / "range-cache"
    args = [
        "--storage", f"s3://{s3_bucket}/read-path", "--s3-endpoint", s3_proxy.endpoint,
        "--cache-dir", str(cache), "--compaction-interval-ms", "3600000",
    ]  # fmt: skip
    broker = BrokerProcess(tmp_path / "broker", args).start()
    try:
        topic = "catching-up"
        sent = [Sent(0, None, b"value-%04d" % index) for index in range(FLUSHES * PER_FLUSH)]
        now = time.time_ns() // 1_000_000
        chunks = [[(item, now) for item in sent[start : start + PER_FLUSH]] for start in range(0, len(sent), PER_FLUSH)]
        produce_in_flushes(broker, topic, chunks)
        # Restarted, the broker has no tail cache: the records are only in S3 (one object per flush).
        assert broker.restart(signal.SIGTERM) == 0
        assert cached_ranges(cache) == 0

        # A consumer that takes one batch per fetch and stops after two batches...
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "unused",
                "enable.auto.commit": False,
                "max.partition.fetch.bytes": 1,
                "queued.min.messages": 1,
            }
        )
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        first: list[int] = []
        deadline = time.monotonic() + 30
        try:
            while len(first) < 2 * PER_FLUSH and time.monotonic() < deadline:
                for message in consumer.consume(1, 0.5):
                    assert message.error() is None, message.error()
                    first.append(message.offset())
        finally:
            consumer.close()
        assert first == list(range(2 * PER_FLUSH))
        # ...walked the partition for two fetches in a row: the broker read the rest ahead into its caches.
        wait_until(lambda: cached_ranges(cache) == FLUSHES, "every flush's range is read ahead into the disk cache")

        assert read_partition(broker, topic, len(sent)) == [(offset, item.value) for offset, item in enumerate(sent)]

        # S3 gone and the memory caches with the process: the disk cache alone serves every record.
        s3_proxy.set_mode("closed")
        assert broker.restart(signal.SIGTERM) == 0
        assert read_partition(broker, topic, len(sent)) == [(offset, item.value) for offset, item in enumerate(sent)]
        s3_proxy.set_mode("pass")
        assert broker.stop() == 0, broker.log_text()[-4000:]
    finally:
        broker.kill()
