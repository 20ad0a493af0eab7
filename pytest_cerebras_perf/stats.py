"""Descriptive summaries of one metric's samples, computed once and shown everywhere.

The terminal, the results JSON and the HTML report all read the same :class:`~.results_doc.Summary`, so a p90
printed in the terminal is, to the last digit, the p90 in the report. Percentiles use linear
interpolation between order statistics (numpy's default), which is what most readers expect and
what pytest-benchmark's ``median`` agrees with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .metrics import METRICS, Sample, metric_values
from .results_doc import Summary

_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def summarize(values: Sequence[float]) -> Summary | None:
    """The :class:`Summary` of ``values``, or ``None`` when there are none.

    Non-finite values are refused: they cannot be written to JSON and would make every figure
    meaningless, so they must be dropped (and counted as errors) before summarising.
    """
    if len(values) == 0:
        return None
    data = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"cannot summarise non-finite values: {[v for v in values if not math.isfinite(v)]}")
    mean = float(np.mean(data))
    std = float(np.std(data, ddof=1)) if data.size > 1 else 0.0
    p50, p90, p95, p99 = (float(p) for p in np.percentile(data, _PERCENTILES))
    return Summary(
        n=int(data.size),
        mean=mean,
        std=std,
        min=float(np.min(data)),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=float(np.max(data)),
        cv=None if mean == 0 else std / mean,
    )


def percentiles(values: Sequence[float], points: Sequence[float]) -> list[float] | None:
    """The given percentiles (0-100) of ``values``, as :func:`summarize` computes its own; None if empty."""
    if len(values) == 0:
        return None
    return [float(p) for p in np.percentile(np.asarray(values, dtype=float), list(points))]


def median(values: Sequence[float]) -> float:
    """The p50 of :func:`summarize`, for one non-empty sample."""
    found = percentiles(values, (50.0,))
    if found is None:
        raise ValueError("the median of no values")
    return found[0]


def summaries(samples: Sequence[Sample]) -> dict[str, Summary | None]:
    """Every metric's :class:`Summary` over successful samples (None where no sample has it)."""
    return {metric: summarize(metric_values(samples, metric)) for metric in METRICS}
