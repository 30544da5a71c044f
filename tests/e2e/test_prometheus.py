"""The broker's metrics as a real Prometheus sees them, after produce, consume and group traffic from stock clients.

One broker (objects in the session's S3 server, so the S3 families have samples) and one Prometheus
scraping it every second. The module drives traffic once, then each test asks Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.clients import confluent_produce
from tests.e2e.dataset import PARTITIONS, records
from tests.promserver import PrometheusServer, start_prometheus
from tests.s3server import S3Server

DASHBOARD = Path(__file__).parents[2] / "grafana" / "dashboards" / "streamhouse.json"
TOPIC = "orders"
SMALL_TOPIC = "small-records"  # max.message.bytes=200: a larger record gets MESSAGE_TOO_LARGE
RECORDS = 900
SETTLE_TIMEOUT = 60.0
PREFIX = "metrics"

# Every family the issue names, plus the ones the dashboard and alerts use, as Prometheus stores them.
FAMILIES = [
    "streamhouse_producer_records_total",
    "streamhouse_producer_bytes_total",
    "streamhouse_producer_latency_seconds_bucket",
    "streamhouse_producer_batch_size_bucket",
    "streamhouse_producer_errors_total",
    "streamhouse_consumer_records_total",
    "streamhouse_consumer_lag",
    "streamhouse_consumer_rebalances_total",
    "streamhouse_consumer_errors_total",
    "streamhouse_fetch_records_total",
    "streamhouse_fetch_bytes_total",
    "streamhouse_fetch_latency_seconds_bucket",
    "streamhouse_segment_writes_total",
    "streamhouse_segment_flushes_total",
    "streamhouse_segment_flush_errors_total",
    "streamhouse_segment_flush_bytes_bucket",
    "streamhouse_flush_to_commit_seconds_bucket",
    "streamhouse_s3_requests_total",
    "streamhouse_s3_errors_total",
    "streamhouse_s3_latency_seconds_sum",
    "streamhouse_s3_latency_seconds_count",
    "streamhouse_cache_hits_total",
    "streamhouse_cache_misses_total",
    "streamhouse_cache_size_bytes",
    "streamhouse_metadata_query_seconds_bucket",
    "streamhouse_connections_active",
    "streamhouse_partitions_total",
    "streamhouse_topics_total",
    "streamhouse_brokers_active",
    "streamhouse_uptime_seconds",
    "streamhouse_ready",
    "streamhouse_requests_total",
    "streamhouse_request_duration_seconds_bucket",
    "streamhouse_request_bytes_total",
    "streamhouse_response_bytes_total",
    "streamhouse_log_cleaner_bytes_read_total",
    "streamhouse_log_cleaner_bytes_written_total",
    "process_max_fds",
    "streamhouse_share_records",
    "streamhouse_share_records_acquired_total",
    "streamhouse_share_records_redelivered_total",
    "streamhouse_share_records_archived_total",
]


@dataclass
class Traffic:
    """What the clients did, as they saw it."""

    produced: int
    stored_bytes: int  # the flush objects in the bucket: exactly the record batches acknowledged
    readers_consumed: int
    laggard_consumed: int
    laggard_lag: dict[int, int]  # partition -> high watermark minus the laggard's committed offset


@dataclass
class Setup:
    broker: BrokerProcess
    prometheus: PrometheusServer
    traffic: Traffic


def produce_too_large(bootstrap: str) -> list[Any]:
    """One record above the topic's max.message.bytes; the delivery errors."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    new_topic = NewTopic(SMALL_TOPIC, num_partitions=1, replication_factor=1, config={"max.message.bytes": "200"})
    admin.create_topics([new_topic])[SMALL_TOPIC].result(30)
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0})
    producer.produce(SMALL_TOPIC, value=b"x" * 1000, on_delivery=lambda error, _: errors.append(error))
    producer.flush(30)
    return errors


def consume_in_group(bootstrap: str, group: str, limit: int) -> dict[int, int]:
    """Subscribe in `group`, read at least `limit` records (or all), commit what was read; next offsets."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    next_offsets: dict[int, int] = {}  # every partition starts at 0: the sum is the records read
    deadline = time.monotonic() + SETTLE_TIMEOUT
    try:
        while sum(next_offsets.values()) < limit:
            assert time.monotonic() < deadline, f"{group} read only {next_offsets}"
            for partition_records in consumer.poll(timeout_ms=500, max_records=50).values():
                for record in partition_records:
                    next_offsets[record.partition] = record.offset + 1
        consumer.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(o, "", -1) for p, o in next_offsets.items()})
    finally:
        consumer.close(autocommit=False)
    return next_offsets


def fetch_out_of_range(bootstrap: str) -> None:
    """A fetch beyond the high watermark: the broker answers OFFSET_OUT_OF_RANGE, the client resets."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    partition = TopicPartition(TOPIC, 0)
    consumer.assign([partition])
    consumer.seek(partition, 10**9)
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not consumer.poll(timeout_ms=500):  # records again only after the reset to the earliest
            assert time.monotonic() < deadline, "the consumer never reset its out-of-range offset"
    finally:
        consumer.close()


def share_consume(bootstrap: str, group: str, limit: int) -> None:
    """A ShareConsumer of a group that starts at the earliest offsets reads at least `limit` records."""
    from tests.e2e.share_consumers import ShareMember, set_group_config, wait_until

    set_group_config(bootstrap, group, "share.auto.offset.reset", "earliest")
    member = ShareMember(bootstrap, group, TOPIC)
    try:
        wait_until(lambda: len(member.received) >= limit, f"{group} to read {limit} records", SETTLE_TIMEOUT)
    finally:
        member.stop()


def high_watermarks(bootstrap: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        ends = consumer.end_offsets([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in ends.items()}


def drive_traffic(broker: BrokerProcess, s3_server: S3Server, bucket: str) -> Traffic:
    sent = records(RECORDS, seed=8)
    confluent_produce(broker.bootstrap, TOPIC, sent, "lz4", True)
    from confluent_kafka import KafkaError

    assert [error.code() for error in produce_too_large(broker.bootstrap)] == [KafkaError.MSG_SIZE_TOO_LARGE]
    readers = consume_in_group(broker.bootstrap, "readers", RECORDS)
    # Fewer records than one partition holds, 50 per poll: at least one partition is left behind.
    laggard = consume_in_group(broker.bootstrap, "laggard", RECORDS // PARTITIONS // 3)
    fetch_out_of_range(broker.bootstrap)
    share_consume(broker.bootstrap, "sharers", RECORDS // 10)
    ends = high_watermarks(broker.bootstrap)
    pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX + "/flush/")
    stored = sum(item["Size"] for page in pages for item in page.get("Contents", ()))
    return Traffic(
        produced=len(sent),
        stored_bytes=stored,
        readers_consumed=sum(readers.values()),
        laggard_consumed=sum(laggard.values()),
        laggard_lag={partition: ends[partition] - offset for partition, offset in laggard.items()},
    )


@pytest.fixture(scope="module")
def setup(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    bucket = s3_server.create_bucket()
    args = [
        "--num-partitions", str(PARTITIONS),
        "--group-initial-rebalance-delay-ms", "0",
        "--compaction-interval-ms", "3600000",  # flush objects stay as written: their sizes are checked
        *s3_server.storage_args(bucket, PREFIX),
    ]  # fmt: skip
    broker = BrokerProcess(tmp_path_factory.mktemp("broker"), args).start()
    prometheus = start_prometheus([f"127.0.0.1:{broker.http_port}"])
    try:
        traffic = drive_traffic(broker, s3_server, bucket)
        yield Setup(broker, prometheus, traffic)
    finally:
        prometheus.stop()
        assert broker.stop() == 0, broker.log_text()[-4000:]


def scalar(prometheus: PrometheusServer, expression: str) -> float | None:
    result = prometheus.query(expression)
    return float(result[0]["value"][1]) if result else None


def eventually(prometheus: PrometheusServer, expression: str, expected: float) -> None:
    """Wait until Prometheus has scraped what the broker counted; fail with the last value seen."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while (value := scalar(prometheus, expression)) != expected:
        assert time.monotonic() < deadline, f"{expression} = {value}, expected {expected}"
        time.sleep(0.5)


def test_produced_records_and_bytes_equal_what_was_sent(setup: Setup) -> None:
    prometheus, traffic = setup.prometheus, setup.traffic
    eventually(prometheus, f'sum(streamhouse_producer_records_total{{topic="{TOPIC}"}})', traffic.produced)
    eventually(prometheus, f'sum(streamhouse_producer_bytes_total{{topic="{TOPIC}"}})', traffic.stored_bytes)
    # The record above max.message.bytes is an error, not a produced record.
    eventually(
        prometheus,
        f'sum(streamhouse_producer_errors_total{{topic="{SMALL_TOPIC}", error_type="message_too_large"}})',
        1,
    )
    assert scalar(prometheus, f'sum(streamhouse_producer_records_total{{topic="{SMALL_TOPIC}"}})') in (None, 0.0)
    eventually(prometheus, "sum(streamhouse_segment_flush_bytes_sum)", traffic.stored_bytes)


def test_consumer_lag_is_the_true_lag_of_a_group_that_stopped_part_way(setup: Setup) -> None:
    prometheus, traffic = setup.prometheus, setup.traffic
    assert traffic.readers_consumed == traffic.produced
    assert sum(traffic.laggard_lag.values()) > 0, traffic.laggard_lag
    for partition, lag in traffic.laggard_lag.items():
        eventually(
            prometheus,
            f'streamhouse_consumer_lag{{consumer_group="laggard", topic="{TOPIC}", partition="{partition}"}}',
            lag,
        )
    eventually(prometheus, f'sum(streamhouse_consumer_lag{{consumer_group="readers", topic="{TOPIC}"}})', 0)
    eventually(
        prometheus,
        f'sum(streamhouse_consumer_records_total{{consumer_group="readers", topic="{TOPIC}"}})',
        traffic.readers_consumed,
    )
    eventually(
        prometheus,
        f'sum(streamhouse_consumer_records_total{{consumer_group="laggard", topic="{TOPIC}"}})',
        traffic.laggard_consumed,
    )


def test_group_and_error_counters(setup: Setup) -> None:
    prometheus = setup.prometheus
    eventually(prometheus, 'sum(streamhouse_consumer_rebalances_total{consumer_group="readers"}) > bool 0', 1)
    eventually(prometheus, 'sum(streamhouse_consumer_errors_total{error_type="offset_out_of_range"}) > bool 0', 1)
    eventually(prometheus, f'sum(streamhouse_fetch_records_total{{topic="{TOPIC}"}}) >= bool {RECORDS}', 1)
    eventually(prometheus, 'sum(streamhouse_requests_total{api="Produce"}) > bool 0', 1)
    eventually(prometheus, 'sum(streamhouse_s3_requests_total{operation="PutObject"}) > bool 0', 1)
    eventually(prometheus, "streamhouse_topics_total", 2)
    eventually(prometheus, "streamhouse_partitions_total", PARTITIONS + 1)
    eventually(prometheus, "streamhouse_brokers_active", 1)
    eventually(prometheus, "streamhouse_ready", 1)


def test_every_metric_family_exists(setup: Setup) -> None:
    prometheus = setup.prometheus
    eventually(prometheus, f'sum(streamhouse_producer_records_total{{topic="{TOPIC}"}})', setup.traffic.produced)
    names = set(prometheus.api("label/__name__/values"))
    assert [family for family in FAMILIES if family not in names] == []
    # Label values stay bounded: no client or member ids.
    for label in ("client_id", "member_id"):
        assert prometheus.api(f"label/{label}/values") == []


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_dashboard_query_returns_data(setup: Setup) -> None:
    prometheus = setup.prometheus
    eventually(prometheus, f'sum(streamhouse_producer_records_total{{topic="{TOPIC}"}})', setup.traffic.produced)
    # rate() needs two scrapes inside its window after the traffic.
    time.sleep(3)
    empty = [expression for expression in dashboard_expressions() if not prometheus.query(expression)]
    assert empty == []


def test_alert_rules_load_in_prometheus(setup: Setup) -> None:
    groups = setup.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 14
    assert all(rule["health"] in ("ok", "unknown") for rule in rules), [r for r in rules if r["health"] == "err"]
