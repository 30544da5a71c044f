"""The broker folds histograms that hold FOLD_AT observations or more every FOLD_INTERVAL_S, and leaves the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamhouse.storage.stats import FOLD_AT, FOLD_INTERVAL_S
from tests.broker.inprocess import running_broker


@pytest.mark.slow
@pytest.mark.asyncio
async def test_histograms_with_many_observations_are_folded_and_others_wait_for_a_scrape(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as broker:
        assert broker.metrics is not None
        busy, quiet = broker.log.stats.flush_bytes, broker.metrics.stats.fetch_seconds
        for _ in range(FOLD_AT):
            busy.observe(100)
        quiet.observe(0.001)
        await asyncio.sleep(FOLD_INTERVAL_S * 2.5)
        assert len(busy._pending) == 0  # folded by the broker
        assert len(quiet._pending) == 1  # below FOLD_AT: folded only when read
        assert quiet.totals()[1:] == (1, 0.001)
        assert busy.totals()[1] == FOLD_AT
