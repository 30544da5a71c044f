"""--group-min-session-timeout-ms through kafka-python: Kafka's test brokers lower it, and the clients'
own suites (compat/) join with 3 s sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.errors import InvalidSessionTimeoutError

from tests.brokerproc import BrokerProcess

SESSION_MS = 3000


def join_with_short_session(bootstrap: str, topic: str) -> set[int]:
    """Subscribes with a 3 s session and returns the partitions it was given (or raises the join error)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
        request_timeout_ms=SESSION_MS + 1000,
    )
    try:
        for _ in range(60):
            consumer.poll(timeout_ms=500)
            if consumer.assignment():
                return {tp.partition for tp in consumer.assignment()}
        return set()
    finally:
        consumer.close()


def test_short_sessions_join_when_the_minimum_allows_them(tmp_path: Path) -> None:
    args = [
        "--group-min-session-timeout-ms",
        "1000",
        "--group-initial-rebalance-delay-ms",
        "0",
        "--num-partitions",
        "2",
    ]
    broker = BrokerProcess(tmp_path / "data", args).start()
    try:
        assert join_with_short_session(broker.bootstrap, "short-sessions") == {0, 1}
    finally:
        broker.stop()


def test_kafkas_default_minimum_rejects_them_with_invalid_session_timeout(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", ["--group-initial-rebalance-delay-ms", "0"]).start()
    try:
        # INVALID_SESSION_TIMEOUT (26): 3000 ms is under the default group.min.session.timeout.ms of 6000.
        with pytest.raises(InvalidSessionTimeoutError):
            join_with_short_session(broker.bootstrap, "default-minimum")
    finally:
        broker.stop()
