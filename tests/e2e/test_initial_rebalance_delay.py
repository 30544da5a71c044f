"""The initial rebalance delay seen by librdkafka consumers that subscribe together.

With Kafka's default group.initial.rebalance.delay.ms (3 s, the broker's default too) a group's first
generation waits for the members that arrive together: each gets its share at once and nobody's
partitions are revoked. librdkafka's own group tests (0089, 0102, 0118) count on that, as their Kafka
clusters run with the default; with no delay the first member forms a generation alone and loses
its partitions to a second rebalance when the others join.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.groups import stored_generation

TIMEOUT = 30.0
PARTITIONS = 4


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path / "broker", ["--num-partitions", str(PARTITIONS)]).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_consumers_subscribing_together_share_the_first_generation(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic, group = "together", "together-group"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(TIMEOUT) is None

    events: list[list[tuple[str, int]]] = [[], []]
    consumers = [
        Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "session.timeout.ms": 6000}) for _ in events
    ]

    def recorder(seen: list[tuple[str, int]], what: str) -> Any:
        return lambda _consumer, partitions: seen.append((what, len(partitions)))

    try:
        for consumer, seen in zip(consumers, events, strict=True):
            consumer.subscribe([topic], on_assign=recorder(seen, "assign"), on_revoke=recorder(seen, "revoke"))
        deadline = time.monotonic() + TIMEOUT
        while not all(events) and time.monotonic() < deadline:
            for consumer in consumers:
                consumer.poll(0.1)
        settle = time.monotonic() + 2
        while time.monotonic() < settle:  # a later rebalance would show here
            for consumer in consumers:
                consumer.poll(0.1)
        assert events == [[("assign", PARTITIONS // 2)], [("assign", PARTITIONS // 2)]]
        assert stored_generation(broker, group) == 1
    finally:
        for consumer in consumers:
            consumer.close()
