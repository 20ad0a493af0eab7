"""Why a perf test failed, written for the person who reads it in a CI log.

The first line survives pytest's one-line "short test summary" and fits 80 columns
(``e2e +15.7 %, output_tps -31.8 % vs baseline``); then, per failing gate, a short plain paragraph
(baseline -> current p50, the change, how sure the gate is, the smallest change it could see); the
statistics come last, for whoever wants to check them. Each sentence is a small function of the
verdict in :data:`SENTENCES`, and each failing verdict kind has its explainer in :data:`FAILING`,
so a new kind or a new sentence is one line there. Numbers go through :mod:`report.units`, the
one formatter the report and the terminal use too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .caveats import caveat
from .metrics import Sample
from .report.units import format_change, format_confidence, format_metric, format_percent, metric_label

if TYPE_CHECKING:
    from .gate import Verdict
    from .records import ScenarioRecord

HEADLINE_WIDTH = 80


@dataclass(frozen=True)
class Failure:
    """One reason a test fails: a few words for the first line, then its explanation."""

    short: str
    lines: tuple[str, ...]
    versus_baseline: bool = False
    versus_a: bool = False  # an interleaved A/B run: the "baseline" is A, measured in this session


def why_failed(
    records: Sequence[ScenarioRecord], *, require_baseline: bool, max_error_rate: float | None = None
) -> str | None:
    """The failure message of a test's scenario runs, or None when nothing fails.

    A run where no request succeeded fails (a pass would hide an outage), as does one whose error
    rate is above ``max_error_rate`` (``--perf-max-error-rate``; None: no limit), with or without a baseline: figures
    from the few requests that got through say little), a confirmed regression, or a missing
    baseline under ``--perf-require-baseline``.
    """
    failures = [failure for record in records for failure in _failures(record, require_baseline, max_error_rate)]
    if not failures:
        return None
    return "\n".join([headline(failures), *(line for f in failures for line in f.lines)])


def headline(failures: Sequence[Failure], width: int = HEADLINE_WIDTH) -> str:
    """``e2e +15.7 %, output_tps -31.8 % vs baseline``; what does not fit becomes ``and N more``."""
    suffix = " B vs A" if any(f.versus_a for f in failures) else ""
    suffix = suffix or (" vs baseline" if any(f.versus_baseline for f in failures) else "")
    for shown in range(len(failures), 0, -1):
        rest = len(failures) - shown
        line = ", ".join(f.short for f in failures[:shown]) + (f" and {rest} more" if rest else "") + suffix
        if len(line) <= width:
            return line
    return failures[0].short[:width]


def _failures(record: ScenarioRecord, require_baseline: bool, max_error_rate: float | None) -> list[Failure]:
    failures = []
    samples = record.result.samples
    stopped = record.result.stopped
    if stopped is not None and stopped != "interrupted":  # a breaker or quota stop: say why it ended early
        failures.append(Failure("stopped early", (f"{record.id}: {stopped} ({len(samples)} requests kept)",)))
    elif samples and not any(s.ok for s in samples):
        failures.append(
            Failure(
                f"all {len(samples)} requests failed",
                (f"{record.id}: all {len(samples)} requests failed, nothing was measured: {error_kinds(samples)}",),
            )
        )
    elif (
        max_error_rate is not None
        and samples
        and (rate := sum(not s.ok for s in samples) / len(samples)) > max_error_rate
    ):
        failures.append(
            Failure(
                f"errors {format_percent(rate)}",
                (
                    f"{record.id}: {sum(not s.ok for s in samples)} of {len(samples)} requests failed "
                    f"({format_percent(rate)}, above the {format_percent(max_error_rate)} allowed by "
                    f"--perf-max-error-rate): {error_kinds(samples, top=3)}",
                ),
            )
        )
    for verdict in record.verdicts:
        explain = FAILING.get(verdict.verdict)
        if explain is not None and verdict.fails:  # drifting fails only with --perf-fail-on-drift
            failure = explain(record.id, verdict)
            if verdict.metric == "e2e" and record.e2e_cause:  # cause.py: reasoning length or token speed
                failure = replace(failure, lines=(*failure.lines, f"{record.id}: {record.e2e_cause}"))
            if record.ab is not None:
                blocks = len(record.ab.pairs)
                said = f"{record.id}: A/B, interleaved, {blocks} blocks: 'baseline' is A, 'current' is B (this run)"
                failure = replace(failure, lines=(*failure.lines, said), versus_a=True)
            failures.append(failure)
    for verdict in record.verdicts:
        if verdict.shifted and verdict.fail_on_shift:
            failures.append(
                Failure(
                    f"{verdict.metric} shifted",
                    (f"{record.id}: {verdict.metric} SHIFTED {verdict.shifted} (run history; --perf-fail-on-shift)",),
                )
            )
    missing = [v.metric for v in record.verdicts if v.verdict == "no-baseline"]
    if missing and require_baseline:
        metrics = ", ".join(missing)
        failures.append(
            Failure(
                f"no baseline for {metrics}",
                (f"{record.id}: {metrics}: no baseline (--perf-require-baseline); accept one with --perf-save",),
            )
        )
    return failures


def error_kinds(samples: Sequence[Sample], top: int | None = None) -> str:
    """``3x server_error 500 (Internal server error), 1x timeout (request timed out)``, most frequent first."""
    counts: dict[str, int] = {}
    for sample in samples:
        if sample.error is not None:
            status = f" {sample.error.status}" if sample.error.status is not None else ""
            key = f"{sample.error.kind}{status} ({sample.error.message})"
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{n}x {key}" for key, n in ranked[:top])
    return shown + (f" and {len(ranked) - top} more kinds" if top is not None and len(ranked) > top else "")


# -- one failing verdict --------------------------------------------------------------------
def _worse(verdict: Verdict) -> str:
    return "lower" if verdict.higher_is_better else "higher"


def _moved(verdict: Verdict) -> str | None:
    if verdict.baseline_p50 is None or verdict.current_p50 is None:
        return None
    change = "" if verdict.ratio is None else f", {format_change(verdict.ratio - 1)}"
    return (
        f"p50 went from {format_metric(verdict.baseline_p50, verdict.metric)} in the baseline "
        f"to {format_metric(verdict.current_p50, verdict.metric)}{change}."
    )


def _how_sure(verdict: Verdict) -> str | None:
    if verdict.ratio_bound is None or verdict.alpha is None:
        return None
    side = "at most" if verdict.higher_is_better else "at least"
    return (
        f"With {format_confidence(verdict.alpha)} confidence the change is {side} "
        f"{format_change(verdict.ratio_bound - 1)}, beyond the {format_percent(verdict.tolerance)} tolerance."
    )


def _could_see(verdict: Verdict) -> str | None:
    if verdict.mde is None:
        return None
    return f"This gate could see a change of {format_percent(verdict.mde)} {_worse(verdict)} or more."


def _detail(verdict: Verdict) -> str:
    parts = []
    if verdict.ratio is not None:
        parts.append(f"Hodges–Lehmann ratio {verdict.ratio:.3f}")
    if verdict.ratio_bound is not None and verdict.alpha is not None:
        parts.append(f"bound {verdict.ratio_bound:.3f} at α = {verdict.alpha:.2g}")
    if verdict.p_value is not None:
        parts.append(f"p = {verdict.p_value:.2g}")
    if verdict.tau is not None:
        parts.append(f"drift τ = {format_percent(verdict.tau)} ({verdict.tau_source})")
    parts.append(f"stage {verdict.stage}, n = {verdict.n} current vs m = {verdict.m} baseline samples")
    if verdict.stage1 is not None and verdict.stage1.ratio is not None:
        parts.append(f"stage 1 saw {format_change(verdict.stage1.ratio - 1)} on n = {verdict.stage1.n}")
    if verdict.note:
        parts.append(verdict.note)
    return "Detail: " + "; ".join(parts) + "."


#: The plain paragraph of a failing gate, sentence by sentence (None: nothing to say); the
#: statistical detail follows it on its own line.
PARAGRAPH: tuple[Callable[[Verdict], str | None], ...] = (_moved, _how_sure, _could_see)


def _regression(run_id: str, verdict: Verdict) -> Failure:
    if verdict.ratio is None:  # a rate (error_rate, goodput): the note carries counts and margin
        short = f"{verdict.metric} {format_percent(verdict.current_p50)}"
        return Failure(short, (f"{run_id}: {verdict.metric} regressed: {verdict.note}.",), versus_baseline=True)
    lead = f"{run_id}: {verdict.metric} ({metric_label(verdict.metric)}) regressed."
    paragraph = " ".join([lead, *(text for sentence in PARAGRAPH if (text := sentence(verdict)))])
    return Failure(f"{verdict.metric} {format_change(verdict.ratio - 1)}", (paragraph, _detail(verdict)), True)


def _drifting(run_id: str, verdict: Verdict) -> Failure:
    """A slow slide across the stored runs (``--perf-fail-on-drift``): the total change and its p."""
    text = f"{run_id}: {verdict.metric} ({metric_label(verdict.metric)}) DRIFTING: {caveat(verdict.to_json())}."
    return Failure(f"{verdict.metric} drifting {format_change(verdict.trend)}", (text,), True)


#: Verdict kinds that can fail a test (when ``Verdict.fails``), and how each explains itself.
FAILING: dict[str, Callable[[str, Verdict], Failure]] = {
    "regression": _regression,
    "drifting": _drifting,
}
