"""A bounded in-process history of consumer lag: one sample per interval per group and partition."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

SAMPLE_INTERVAL_S = 10.0
SAMPLES_KEPT = 180  # 30 minutes at one sample per 10 s
MAX_SERIES = 20_000  # group-partitions followed at once; more are not sampled


class LagHistory:
    def __init__(self, samples_kept: int = SAMPLES_KEPT) -> None:
        self.samples_kept = samples_kept
        self._series: dict[str, dict[tuple[str, int], deque[int]]] = {}
        self._count = 0  # series over all groups

    def record(self, group_id: str, lags: Mapping[tuple[str, int], int]) -> None:
        """One sample of each of the group's partitions; partitions no longer committed are dropped."""
        series = self._series.setdefault(group_id, {})
        for gone in set(series) - set(lags):
            del series[gone]
            self._count -= 1
        for partition, lag in lags.items():
            if partition not in series:
                if self._count >= MAX_SERIES:
                    continue
                series[partition] = deque(maxlen=self.samples_kept)
                self._count += 1
            series[partition].append(lag)

    def keep_only(self, group_ids: set[str]) -> None:
        for gone in set(self._series) - group_ids:
            self._count -= len(self._series.pop(gone))

    def has(self, group_id: str) -> bool:
        return bool(self._series.get(group_id))

    def of(self, group_id: str, topic: str, partition: int) -> list[int]:
        return list(self._series.get(group_id, {}).get((topic, partition), ()))

    def size(self) -> int:
        return self._count
