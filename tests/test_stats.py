"""Summaries: the figures every output shows must be the textbook ones, computed once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_cerebras_perf.results_doc import Summary
from pytest_cerebras_perf.stats import summarize


def test_empty_sequence_has_no_summary() -> None:
    assert summarize([]) is None


def test_known_values_use_sample_std_and_linear_percentiles() -> None:
    summary = summarize([10.0, 1.0, 3.0, 2.0, 4.0])
    assert summary is not None
    assert summary.n == 5
    assert summary.mean == pytest.approx(4.0)
    assert summary.std == pytest.approx(math.sqrt(50 / 4))  # ddof = 1: squared deviations 36+9+1+4+0
    assert (summary.min, summary.max) == (1.0, 10.0)
    assert summary.p50 == pytest.approx(3.0)
    # sorted 1 2 3 4 10: p90 sits at rank 3.6, between 4 and 10
    assert summary.p90 == pytest.approx(7.6)
    assert summary.p95 == pytest.approx(8.8)
    assert summary.p99 == pytest.approx(9.76)
    assert summary.cv == pytest.approx(math.sqrt(12.5) / 4.0)


def test_percentiles_match_numpy_default_on_random_data() -> None:
    values = list(np.random.default_rng(3).lognormal(0.0, 0.4, 37))
    summary = summarize(values)
    assert summary is not None
    expected = np.percentile(values, [50, 90, 95, 99])
    assert [summary.p50, summary.p90, summary.p95, summary.p99] == pytest.approx(list(expected))


def test_single_value_has_zero_spread() -> None:
    summary = summarize([0.25])
    assert summary == Summary(
        n=1, mean=0.25, std=0.0, min=0.25, p50=0.25, p90=0.25, p95=0.25, p99=0.25, max=0.25, cv=0.0
    )


def test_cv_is_none_when_the_mean_is_zero() -> None:
    summary = summarize([-1.0, 1.0])
    assert summary is not None and summary.cv is None


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        summarize([1.0, bad])
