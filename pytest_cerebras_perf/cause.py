"""Why an end-to-end regression happened: did the model think longer, or emit tokens more slowly?

For a reasoning model e2e is (time to first token) + (reasoning + content tokens) / (token speed),
and the two parts regress independently: a model update or a ``reasoning_effort`` change moves the
reasoning length, an overloaded or slower deployment moves the speed. A gate on e2e alone cannot
tell them apart, so next to an e2e regression the failure message and the report carry one line
from :func:`e2e_cause`, comparing the current run with the baseline on both.

A part "moved" when its medians differ by at least :data:`MIN_CHANGE` AND a two-sided Mann-Whitney
test says the samples differ (p < :data:`ALPHA`): reasoning lengths are drawn per request, so ten
samples' median can wander by more than 10 % on noise alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from .baselines import ScenarioBaseline
from .gate import Verdict
from .metrics import Sample, metric_values
from .report.units import format_change, format_value
from .stats import median

MIN_CHANGE = 0.05
ALPHA = 0.01


@dataclass(frozen=True)
class Shift:
    """How one quantity moved between the baseline and the current run."""

    label: str
    unit: str
    baseline_p50: float
    current_p50: float
    moved: bool

    def describe(self) -> str:
        change = self.current_p50 / self.baseline_p50 - 1 if self.baseline_p50 else 0.0
        return (
            f"{self.label} p50 {format_value(self.baseline_p50, self.unit, with_unit=False)} -> "
            f"{format_value(self.current_p50, self.unit)} "
            f"({format_change(change)}, {'moved' if self.moved else 'did not move'})"
        )


def shift(label: str, unit: str, baseline: Sequence[float], current: Sequence[float]) -> Shift | None:
    """``None`` when either side has no values (an endpoint or an old baseline that lacks the metric)."""
    if not baseline or not current:
        return None
    before, after = median(baseline), median(current)
    material = abs(after - before) >= MIN_CHANGE * abs(before) and after != before
    significant = material and float(mannwhitneyu(current, baseline, alternative="two-sided").pvalue) < ALPHA
    return Shift(label, unit, before, after, significant)


def e2e_cause(
    verdicts: Sequence[Verdict], current: Sequence[Sample], baseline: ScenarioBaseline | None, keep_runs: int
) -> str | None:
    """One line naming what moved when e2e regressed (``None`` when it did not, or without a baseline)."""
    if baseline is None or not any(v.metric == "e2e" and v.verdict == "regression" for v in verdicts):
        return None

    def compare(metric: str, label: str, unit: str) -> Shift | None:
        pooled = [x for run in baseline.pooled_runs(metric, keep=keep_runs) for x in run]
        return shift(label, unit, pooled, metric_values(current, metric))

    reasoning = compare("reasoning_tokens", "reasoning tokens", "tokens")
    speed = compare("output_tps", "token speed", "tok/s")
    moved = [s.label for s in (reasoning, speed) if s is not None and s.moved]
    if reasoning is not None and reasoning.baseline_p50 == 0 and reasoning.current_p50 == 0:
        reasoning = None  # a model that does not reason: only the speed can explain it
    verdict = {
        2: "both reasoning length and token speed moved",
        1: "reasoning length moved" if moved == ["reasoning tokens"] else "token speed moved",
        0: "neither reasoning length nor token speed moved: the time before the first token did (see ttft)",
    }[len(moved)]
    details = "; ".join(s.describe() for s in (reasoning, speed) if s is not None)
    return f"e2e cause: {verdict}" + (f" ({details})" if details else "")
