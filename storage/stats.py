"""Plain counters and histograms that the storage layer keeps for the broker's metrics.

No locks and no exporter here: the broker runs one event loop, so increments are plain
integer adds, and broker/metrics.py turns these numbers into Prometheus samples at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

# Upper bounds in seconds, from 0.5 ms to 10 s: local disk and SQLite answer in well under a
# millisecond, S3 and PostgreSQL across a network in tens of milliseconds.
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Upper bounds in bytes for flush objects: 1 KiB to 64 MiB.
SIZE_BOUNDS = tuple(float(1024 * 4**power) for power in range(10))


class Histogram:
    """Observation counts per bucket (upper bounds inclusive, as Prometheus's `le`) plus their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


@dataclass
class LogStats:
    """What the partition log did: batches buffered, flushes, cache use."""

    batches_written: int = 0  # record batches accepted into the write buffer
    flushes: int = 0  # flush objects written and committed
    flush_failures: int = 0
    flush_bytes: Histogram = field(default_factory=lambda: Histogram(SIZE_BOUNDS))
    # From the start of a flush's object write to the end of its metadata commit.
    flush_to_commit_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    cache_hits: dict[str, int] = field(default_factory=lambda: {"tail": 0, "object_range": 0, "disk": 0})
    cache_misses: dict[str, int] = field(default_factory=lambda: {"tail": 0, "object_range": 0, "disk": 0})
