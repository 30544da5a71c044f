"""A broker whose objects live in S3 (the session's S3 server): produce, consume, restart after SIGKILL."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.clients import confluent_consume, confluent_produce, kafka_python_consume, kafka_python_produce
from tests.e2e.dataset import PARTITIONS, records
from tests.e2e.test_round_trip import assert_same
from tests.s3server import S3Server

PREFIX = "cluster/one"


@pytest.fixture
def s3_broker(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker of the test's own storing its objects in `s3_bucket` under PREFIX (metadata stays local)."""
    args = ["--num-partitions", str(PARTITIONS), *s3_server.storage_args(s3_bucket, PREFIX)]
    process = BrokerProcess(tmp_path / "broker", args).start()
    yield process
    process.kill()


def bucket_keys(server: S3Server, bucket: str) -> list[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def test_produce_and_consume_with_objects_in_the_bucket(
    s3_broker: BrokerProcess, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    sent = records(1500, seed=3)
    kafka_python_produce(s3_broker.bootstrap, "on-s3", sent, "zstd", False)
    assert_same(sent, kafka_python_consume(s3_broker.bootstrap, "on-s3", len(sent)))
    keys = bucket_keys(s3_server, s3_bucket)
    assert keys, "no object was written to the bucket"
    assert all(key.startswith(PREFIX + "/") for key in keys), keys[:5]
    # Nothing went to the local folder: only the SQLite metadata lives there.
    objects = tmp_path / "broker" / "objects"
    assert not objects.exists() or not any(path.is_file() for path in objects.rglob("*"))
    assert s3_broker.stop() == 0, s3_broker.log_text()[-4000:]


def test_sigkill_keeps_every_acknowledged_record(s3_broker: BrokerProcess) -> None:
    topic = "s3-restarts"
    sent = records(3000, seed=11)
    confluent_produce(s3_broker.bootstrap, topic, sent[:2000], "lz4", True)  # acks=all: all acknowledged
    s3_broker.restart(signal.SIGKILL)
    # The tail cache died with the process: these reads come from S3.
    assert_same(sent[:2000], confluent_consume(s3_broker.bootstrap, topic, 2000))
    confluent_produce(s3_broker.bootstrap, topic, sent[2000:], "gzip", True)
    s3_broker.restart(signal.SIGKILL)
    assert_same(sent, confluent_consume(s3_broker.bootstrap, topic, len(sent)))
