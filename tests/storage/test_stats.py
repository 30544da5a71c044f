"""Histograms count each observation at or below every upper bound it does not exceed (Prometheus's `le`)."""

from __future__ import annotations

from streamhouse.storage.stats import Histogram


def test_observations_count_cumulatively_with_an_inf_count_and_a_sum() -> None:
    histogram = Histogram((1.0, 2.5, 10.0))
    values = (0.5, 1.0, 1.0001, 2.5, 9.0, 10.0, 10.5, 1e9)
    for value in values:
        histogram.observe(value)
    assert histogram.totals() == ([2, 4, 6], 8, sum(values))  # <=1, <=2.5, <=10; all 8 for +Inf


def test_folding_in_several_steps_gives_the_same_totals_as_once() -> None:
    values = [0.0004 * (index % 37) for index in range(1000)]
    once, in_steps = Histogram((0.001, 0.005, 0.01)), Histogram((0.001, 0.005, 0.01))
    for index, value in enumerate(values):
        once.observe(value)
        in_steps.observe(value)
        if index % 97 == 0:
            in_steps.fold()
    (steps_below, steps_count, steps_sum), (once_below, once_count, once_sum) = in_steps.totals(), once.totals()
    expected = [sum(1 for value in values if value <= bound) for bound in (0.001, 0.005, 0.01)]
    assert (steps_below, steps_count) == (once_below, once_count) == (expected, 1000)
    assert abs(steps_sum - once_sum) < 1e-9


def test_fold_waits_for_enough_observations_and_totals_are_a_copy() -> None:
    histogram = Histogram((1.0,))
    assert histogram.totals() == ([0], 0, 0.0)
    histogram.observe(3)
    histogram.fold(min_pending=2)  # one pending: left for later
    histogram.observe(0.5)
    histogram.fold(min_pending=2)
    below, count, total = histogram.totals()
    assert (below, count, total) == ([1], 2, 3.5)
    below[0] = 99
    assert histogram.totals() == ([1], 2, 3.5)
