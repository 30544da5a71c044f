"""Plain counters and histograms that the storage layer keeps for the broker's metrics.

No locks and no exporter here: the broker runs one event loop, so increments are plain
integer adds, and broker/metrics.py turns these numbers into Prometheus samples at scrape time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import add

FOLD_INTERVAL_S = 1.0  # how often the broker folds the histograms holding FOLD_AT or more observations
FOLD_AT = 1024

# Upper bounds in seconds, from 0.5 ms to 10 s: local disk and SQLite answer in well under a
# millisecond, S3 and PostgreSQL across a network in tens of milliseconds.
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Upper bounds in bytes for flush objects: 1 KiB to 64 MiB.
SIZE_BOUNDS = tuple(float(1024 * 4**power) for power in range(10))


class Histogram:
    """Observation counts at or below each upper bound (cumulative, as Prometheus's `le`), their count and sum.

    `observe` is the bound `append` of a list of pending observations: hot paths observe per
    request, and a Python-level bisect per observation costs several times as much (see
    benchmarks/metrics_cost.py). `fold()` counts what is pending with C loops
    only (one sort, then a bisect per bound). Readers go through `totals()`, which folds first;
    the broker folds every histogram holding FOLD_AT observations or more every FOLD_INTERVAL_S,
    so that pending observations stay few without a scrape.
    """

    __slots__ = ("_count", "_cumulative", "_pending", "_sum", "bounds", "observe")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._cumulative = [0] * len(self.bounds)
        self._count = 0
        self._sum = 0.0
        self._pending: list[float] = []
        self.observe: Callable[[float], None] = self._pending.append

    def fold(self, min_pending: int = 1) -> None:
        """Move the pending observations into the counts and the sum, if at least `min_pending` are pending."""
        pending = self._pending
        if not pending or len(pending) < min_pending:
            return
        pending.sort()
        self._cumulative = list(map(add, self._cumulative, map(partial(bisect_right, pending), self.bounds)))
        self._count += len(pending)
        self._sum += sum(pending)
        pending.clear()

    def copy(self) -> Histogram:
        """The counts so far, folded, in a histogram of their own (to read in another thread)."""
        self.fold()
        copy = Histogram(self.bounds)
        copy._cumulative, copy._count, copy._sum = list(self._cumulative), self._count, self._sum
        return copy

    def totals(self) -> tuple[list[int], int, float]:
        """Observations at or below each bound, all observations (the +Inf bucket) and their sum, so far."""
        self.fold()
        return list(self._cumulative), self._count, self._sum


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
