"""Plain counters and histograms that the storage layer keeps for the broker's metrics.

No locks and no exporter here: the broker runs one event loop, so increments are plain
integer adds, and broker/metrics.py turns these numbers into Prometheus samples at scrape time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

FOLD_INTERVAL_S = 1.0  # how often the broker folds every histogram's pending observations

# Upper bounds in seconds, from 0.5 ms to 10 s: local disk and SQLite answer in well under a
# millisecond, S3 and PostgreSQL across a network in tens of milliseconds.
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Upper bounds in bytes for flush objects: 1 KiB to 64 MiB.
SIZE_BOUNDS = tuple(float(1024 * 4**power) for power in range(10))


class Histogram:
    """Observation counts per bucket (upper bounds inclusive, as Prometheus's `le`) plus their sum.

    `observe` is the bound `append` of a list of pending observations: hot paths observe per
    request, and a Python-level bisect per observation cost about five times as much (measured
    with callgrind in benchmarks/metrics_cost.py). `fold()` buckets what is pending in C (one
    sort, one bisect per bound). Readers go through `totals()`, which folds first; the broker also
    folds every second (`FOLD_INTERVAL_S`) so that pending observations stay few.
    """

    __slots__ = ("_counts", "_pending", "_sum", "bounds", "observe")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._pending: list[float] = []
        self.observe: Callable[[float], None] = self._pending.append

    def fold(self) -> None:
        """Move the pending observations into the bucket counts and the sum."""
        pending = self._pending
        if not pending:
            return
        pending.sort()
        below = 0
        for index, bound in enumerate(self.bounds):
            up_to = bisect_right(pending, bound)
            self._counts[index] += up_to - below
            below = up_to
        self._counts[-1] += len(pending) - below
        self._sum += sum(pending)
        pending.clear()

    def totals(self) -> tuple[list[int], float]:
        """The count per bucket (the last is +Inf) and the sum, every observation so far included."""
        self.fold()
        return list(self._counts), self._sum


@dataclass
class LogStats:
    """What the partition log did: batches buffered, flushes, cache use."""

    batches_written: int = 0  # record batches accepted into the write buffer
    flushes: int = 0  # flush objects written and committed
    flush_failures: int = 0
    flush_bytes: Histogram = field(default_factory=lambda: Histogram(SIZE_BOUNDS))
    # From the start of a flush's object write to the end of its metadata commit.
    flush_to_commit_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    # Each metadata commit (of one or more flushes) alone: timed here rather than by wrapping the
    # store's commit_flushes, which would add a coroutine layer to every commit.
    commit_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    cache_hits: dict[str, int] = field(default_factory=lambda: {"tail": 0, "object_range": 0, "disk": 0})
    cache_misses: dict[str, int] = field(default_factory=lambda: {"tail": 0, "object_range": 0, "disk": 0})

    def histograms(self) -> Iterator[Histogram]:
        yield self.flush_bytes
        yield self.flush_to_commit_seconds
        yield self.commit_seconds
