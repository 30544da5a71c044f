"""BrokerStats keeps its label values bounded: unknown names under one value, a cap per family, pruning."""

from __future__ import annotations

from streamhouse.broker.metrics import MAX_SERIES, UNKNOWN_LABEL, BrokerStats
from streamhouse.protocol.errors import ErrorCode


def test_invalid_and_unknown_topic_names_share_one_label_value() -> None:
    stats = BrokerStats()
    for number in range(2000):
        stats.produced(f"bad name {number}!", ErrorCode.INVALID_TOPIC_EXCEPTION, 0, 0)
        stats.fetched(f"never-created-{number}", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, b"")
    assert stats.produce_errors == {(UNKNOWN_LABEL, "invalid_topic_exception"): 2000}
    assert stats.consumer_errors == {(UNKNOWN_LABEL, "", "unknown_topic_or_partition"): 2000}


def test_a_family_keeps_at_most_max_series_and_counts_what_it_dropped() -> None:
    stats = BrokerStats()
    for number in range(MAX_SERIES + 5):
        stats.produced(f"topic-{number}", ErrorCode.NONE, 1, 10)
    stats.produced("topic-0", ErrorCode.NONE, 1, 10)  # a series kept goes on counting
    assert len(stats.produced_records) == MAX_SERIES
    assert stats.produced_records["topic-0"] == 2
    assert stats.dropped == {"producer_records": 5}


def test_prune_drops_the_series_of_topics_and_groups_that_are_gone() -> None:
    stats = BrokerStats()
    for topic in ("kept", "deleted"):
        stats.produced(topic, ErrorCode.NONE, 1, 10)
        stats.produced(topic, ErrorCode.NOT_ENOUGH_REPLICAS, 0, 0)
        for group in ("live", "gone"):
            stats.commit_succeeded(group, topic, 0, 1)
            stats.commit_succeeded(group, topic, 0, 5)
            stats.commit_failed(group, topic, ErrorCode.ILLEGAL_GENERATION)
    stats.produced("x!", ErrorCode.INVALID_TOPIC_EXCEPTION, 0, 0)
    stats.prune({"kept"}, {"live"})
    assert list(stats.produced_records) == list(stats.produced_bytes) == ["kept"]
    assert set(stats.produce_errors) == {("kept", "not_enough_replicas"), (UNKNOWN_LABEL, "invalid_topic_exception")}
    assert stats.consumed_records == {("kept", "live"): 4}
    assert set(stats.consumer_errors) == {("kept", "live", "illegal_generation")}
    assert set(stats.committed) == {("live", "kept", 0)}


def test_a_frozen_copy_does_not_follow_later_counts() -> None:
    stats = BrokerStats()
    stats.produced("t", ErrorCode.NONE, 1, 10)
    stats.fetch_seconds.observe(0.5)
    frozen = stats.frozen()
    stats.produced("t", ErrorCode.NONE, 1, 10)
    stats.produced("u", ErrorCode.NONE, 1, 10)
    stats.fetch_seconds.observe(0.5)
    assert frozen.produced_records == {"t": 1}
    assert frozen.fetch_seconds.totals()[1] == 1
    assert stats.fetch_seconds.totals()[1] == 2
