"""Histograms count each observation in the bucket of the first upper bound at or above it."""

from __future__ import annotations

from storage.stats import Histogram


def test_observations_land_in_inclusive_buckets_with_an_inf_bucket_and_a_sum() -> None:
    histogram = Histogram((1.0, 2.5, 10.0))
    for value in (0.5, 1.0, 1.0001, 2.5, 9.0, 10.0, 10.5, 1e9):
        histogram.observe(value)
    counts, total = histogram.totals()
    assert counts == [2, 2, 2, 2]  # <=1, <=2.5, <=10, +Inf
    assert total == 0.5 + 1.0 + 1.0001 + 2.5 + 9.0 + 10.0 + 10.5 + 1e9


def test_folding_in_several_steps_gives_the_same_totals_as_once() -> None:
    values = [0.0004 * (index % 37) for index in range(1000)]
    once, in_steps = Histogram((0.001, 0.005, 0.01)), Histogram((0.001, 0.005, 0.01))
    for index, value in enumerate(values):
        once.observe(value)
        in_steps.observe(value)
        if index % 97 == 0:
            in_steps.fold()
    assert in_steps.totals()[0] == once.totals()[0]
    assert abs(in_steps.totals()[1] - once.totals()[1]) < 1e-9
    assert sum(once.totals()[0]) == 1000


def test_totals_are_a_copy_and_an_empty_histogram_counts_nothing() -> None:
    histogram = Histogram((1.0,))
    assert histogram.totals() == ([0, 0], 0.0)
    counts, _ = histogram.totals()
    counts[0] = 99
    histogram.observe(3)
    assert histogram.totals() == ([0, 1], 3.0)
