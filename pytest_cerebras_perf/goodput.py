"""Goodput: the share of requests that met every service-level objective of their scenario.

A scenario declares ``slo: {ttft: 0.5, e2e: 2.0}`` (seconds; tokens/s metrics are minimums); a
request meets it when it succeeded and every named metric is within its limit (a metric it did
not report does not meet it). This is DistServe's and vLLM bench's goodput as a share, not a
rate, so it compares across concurrency levels.

Gated like the error rate (a binomial test on the requests that missed, against the baseline's
share plus a margin), and the baseline's share is scored against the *current* SLO from the raw
samples it keeps (an accepted run has no errors, so its metric lists line up request by request):
tightening an SLO is then a change of the gate, not of the stored data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .metrics import METRICS, Sample
from .report.units import format_metric, format_percent

if TYPE_CHECKING:
    from .baselines import ScenarioBaseline
    from .gate import Verdict

GOODPUT = "goodput"
Slo = Mapping[str, float]


def parse_slo(raw: object, where: str) -> dict[str, float]:
    """``{metric: limit}`` from a scenario's ``slo`` field; one-line errors name ``where``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{where}: 'slo' must map metric -> limit, e.g. {{ttft: 0.5, e2e: 2.0}}")
    slo: dict[str, float] = {}
    for metric, limit in raw.items():
        if metric not in METRICS:
            raise ValueError(f"{where}: slo.{metric}: unknown metric; known: {', '.join(METRICS)}")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
            raise ValueError(f"{where}: slo.{metric} must be a positive number (seconds, or tokens/s), got {limit!r}")
        slo[str(metric)] = float(limit)
    return slo


def _within(metric: str, value: float | None, limit: float) -> bool:
    if value is None:
        return False
    return value >= limit if METRICS[metric].higher_is_better else value <= limit


def meets(sample: Sample, slo: Slo) -> bool:
    return sample.ok and all(_within(metric, sample.value(metric), limit) for metric, limit in slo.items())


def goodput(samples: Sequence[Sample], slo: Slo) -> float | None:
    """Share of ``samples`` meeting every objective; None without an SLO or without requests."""
    if not slo or not samples:
        return None
    return sum(meets(s, slo) for s in samples) / len(samples)


def baseline_shares(baseline: ScenarioBaseline, slo: Slo, keep: int) -> list[float]:
    """Each accepted run's goodput under ``slo``; a run whose metric lists do not line up is left out."""
    shares = []
    for run in baseline.runs[-keep:] if keep > 0 else ():
        columns = [run.samples.get(metric, []) for metric in slo]
        if not columns[0] or len({len(column) for column in columns}) != 1:
            continue
        rows = list(zip(*columns, strict=True))
        met = sum(all(_within(m, v, limit) for (m, limit), v in zip(slo.items(), row, strict=True)) for row in rows)
        shares.append(met / len(rows))
    return shares


def gate_goodput(samples: Sequence[Sample], slo: Slo, baseline: ScenarioBaseline | None, keep: int) -> Verdict:
    """More requests missing the SLO than the baseline by over the error-rate margin fails."""
    from .gate import gate_error_rate  # scipy: only once a perf test is gated

    missed = sum(not meets(s, slo) for s in samples)
    shares = baseline_shares(baseline, slo, keep) if baseline else []
    verdict = gate_error_rate(missed, len(samples), [1 - share for share in shares])
    current = goodput(samples, slo)
    base = sum(shares) / len(shares) if shares else None
    note = (
        f"{len(samples) - missed}/{len(samples)} requests met the SLO ({_describe(slo)}) vs "
        + ("no baseline run" if base is None else f"{format_percent(base)} in the baseline")
        + ("" if verdict.p_value is None else f" (binomial p = {verdict.p_value:.2g})")
    )
    return replace(verdict, metric=GOODPUT, baseline_p50=base, current_p50=current, higher_is_better=True, note=note)


def _describe(slo: Slo) -> str:
    return ", ".join(
        f"{metric} {'>=' if METRICS[metric].higher_is_better else '<='} {format_metric(limit, metric)}"
        for metric, limit in slo.items()
    )
