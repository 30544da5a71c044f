"""The share groups' Prometheus families, from a ShareStats copy taken at scrape time (label: share_group)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from streamhouse.broker.share.partition import RecordState
from streamhouse.broker.share.partitions import ShareStats

PREFIX = "streamhouse_"


def share_families(stats: ShareStats) -> Iterator[Metric]:
    in_flight = GaugeMetricFamily(
        PREFIX + "share_records",
        "Records in the share group's in-flight windows that are available or acquired.",
        labels=("share_group", "state"),
    )
    for group, counts in stats.in_flight.items():
        for state in (RecordState.AVAILABLE, RecordState.ACQUIRED):
            in_flight.add_metric([group, state.name.lower()], counts[state])
    yield in_flight
    for name, documentation, values in [
        (
            "share_records_acquired",
            "Records acquired by the share group's consumers, redeliveries included.",
            stats.delivered,
        ),
        ("share_records_redelivered", "Records delivered again (released, or their lock expired).", stats.redelivered),
        (
            "share_records_archived",
            "Records archived: rejected, past the delivery limit, or not deliverable.",
            stats.archived,
        ),
    ]:
        family = CounterMetricFamily(PREFIX + name, documentation, labels=("share_group",))
        for group, value in values.items():
            family.add_metric([group], value)
        yield family
