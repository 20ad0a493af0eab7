"""Display formatting: data stays in seconds and tokens/s; only what a person reads is converted.

One place decides that seconds show as milliseconds, so tables, charts and the Markdown summary
never disagree about a unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_cerebras_perf.metrics import METRICS


@dataclass(frozen=True)
class DisplayUnit:
    """How a data unit is shown: multiply by ``factor`` and append ``label``."""

    factor: float
    label: str
    decimals: int


_DISPLAY: dict[str, DisplayUnit] = {
    "s": DisplayUnit(1000.0, "ms", 1),
    "tok/s": DisplayUnit(1.0, "tok/s", 0),
    "%": DisplayUnit(1.0, "%", 1),
    "tokens": DisplayUnit(1.0, "tokens", 0),
    "fraction": DisplayUnit(100.0, "%", 1),
    "req/s": DisplayUnit(1.0, "req/s", 1),
}


def display_unit(metric: str) -> DisplayUnit:
    """The display unit of a metric of METRICS; anything else (e.g. ``error_rate``) is a fraction."""
    spec = METRICS.get(metric)
    return _DISPLAY[spec.unit if spec is not None else "fraction"]


def metric_label(metric: str) -> str:
    spec = METRICS.get(metric)
    return spec.label if spec is not None else metric.replace("_", " ")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def format_number(value: float | None, decimals: int) -> str:
    if value is None or not _finite(value):
        return "–"
    if decimals == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < 10 and decimals == 1:
        return f"{value:,.2f}"
    return f"{value:,.{decimals}f}"


def format_metric(value: float | None, metric: str, *, with_unit: bool = True) -> str:
    """``0.1234`` s -> ``123.4 ms``; ``1834.2`` tok/s -> ``1,834 tok/s``; None -> ``–``."""
    spec = METRICS.get(metric)
    return format_value(value, spec.unit if spec is not None else "fraction", with_unit=with_unit)


def format_value(value: float | None, data_unit: str, *, with_unit: bool = True) -> str:
    """A value in a data unit (``s``, ``tok/s``, ``%``, ``tokens``, ``fraction``, ``req/s``) as shown."""
    unit = _DISPLAY[data_unit]
    if value is None or not _finite(value):
        return "–"
    text = format_number(value * unit.factor, unit.decimals)
    return f"{text} {unit.label}" if with_unit else text


def format_confidence(alpha: float) -> str:
    """``1 - alpha`` as a percentage with as many decimals as it takes not to read 100 %:
    ``0.05`` -> ``95 %``, ``0.000625`` -> ``99.9 %``, ``1e-7`` -> ``99.99999 %``."""
    level = 100 * (1 - alpha)
    for decimals in range(0, 10):
        text = f"{level:.{decimals}f}"
        if float(text) < 100:
            return f"{text} %"
    return f"{level!r} %"


def format_change(fraction: float | None) -> str:
    """A relative change as a signed percentage: ``0.123`` -> ``+12.3 %``."""
    if fraction is None or not _finite(fraction):
        return "–"
    return f"{fraction * 100:+.1f} %"


def format_rounded_change(fraction: float) -> str:
    """A change rounded to a whole percent, for labels drawn in a chart: ``0.123`` -> ``+12%``."""
    percent = round(fraction * 100)
    return "±0%" if percent == 0 else f"{percent:+d}%"


def format_percent(fraction: float | None) -> str:
    """A non-negative fraction as a percentage: ``0.05`` -> ``5.0 %``."""
    if fraction is None or not _finite(fraction):
        return "–"
    return f"{fraction * 100:.1f} %"


def format_p_value(value: float | None) -> str:
    if value is None or not _finite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
