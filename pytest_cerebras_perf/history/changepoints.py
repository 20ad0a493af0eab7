"""Change points in a run history: Apache Otava's E-Divisive means (Hunter's split-and-merge).

Otava (``pip install 'pytest-cerebras-perf[changepoints]'``) is an optional dependency because it
pins numpy and scipy exactly; without it the history is still kept and drawn, and the report says
change points were not computed. The series is the run centres of one scenario × metric (the gate's
trimmed log-centres), oldest first.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

MIN_RUNS = 6  # fewer runs than this: too short a series to split
MAX_P_VALUE = 0.001  # Otava's default significance for a change point
MIN_CHANGE = 0.02  # smaller shifts than 2 % are not reported, however significant
INSTALL_HINT = "change points need Apache Otava: pip install 'pytest-cerebras-perf[changepoints]'"


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first run of the new level (0 = the oldest run of the series)
    change: float  # relative change of the mean from before to after (+0.15 = 15 % higher)
    p_value: float


def available() -> bool:
    return importlib.util.find_spec("otava") is not None


def change_points(centres: Sequence[float]) -> list[ChangePoint]:
    """Otava's change points of ``centres`` (empty for a short series or without Otava)."""
    if len(centres) < MIN_RUNS or not available():
        return []
    from otava.analysis import compute_change_points

    found, _weak = compute_change_points(
        [float(c) for c in centres], window_len=max(30, len(centres)), max_pvalue=MAX_P_VALUE, min_magnitude=MIN_CHANGE
    )
    return [
        ChangePoint(int(point.index), float(point.stats.forward_rel_change()), float(point.stats.pvalue))
        for point in found
    ]
