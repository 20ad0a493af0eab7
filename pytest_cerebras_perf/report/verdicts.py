"""Gate verdicts as people read them: names, colours, emoji, counts, the headline, the change.

Shared by the HTML report and the Markdown CI summary so both say the same thing the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from pytest_cerebras_perf.results_doc import GateDoc, ResultsDoc, ScenarioEntry


@dataclass(frozen=True)
class VerdictStyle:
    """How a verdict kind is shown: in words (its name), with an emoji, and as a CSS class, which is
    ``neutral`` for the kinds that decide nothing (no baseline, not gated)."""

    kind: str
    emoji: str
    neutral: bool = False

    @property
    def label(self) -> str:
        return self.kind.replace("-", " ")

    @property
    def css(self) -> str:
        return "neutral" if self.neutral else self.kind


VERDICTS: dict[str, VerdictStyle] = {
    style.kind: style
    for style in (  # most severe first: the summaries list and sort verdicts in this order
        VerdictStyle("regression", "❌"),
        VerdictStyle("inconclusive", "⚠️"),
        VerdictStyle("improvement", "🚀"),
        VerdictStyle("drifting", "📉"),
        VerdictStyle("underpowered", "🔍"),
        VerdictStyle("pass", "✅"),
        VerdictStyle("no-baseline", "🆕", neutral=True),
        VerdictStyle("not-gated", "➖", neutral=True),
    )
}
_UNKNOWN = VerdictStyle("unknown", "❔", neutral=True)


def verdict_style(verdict: str) -> VerdictStyle:
    return VERDICTS.get(verdict, _UNKNOWN)


def gate_entries(results: ResultsDoc) -> Iterator[tuple[ScenarioEntry, GateDoc]]:
    """Every (scenario, gate decision) pair in run order."""
    for scenario in results["scenarios"]:
        for decision in scenario["gate"]:
            yield scenario, decision


def verdict_counts(results: ResultsDoc) -> Counter[str]:
    return Counter(decision["verdict"] for _, decision in gate_entries(results))


def headline(results: ResultsDoc, *, emoji: bool = True) -> str:
    """One line: what the gate decided, over what, on which target (and whether the run is complete).

    ``emoji=False`` for places that may lack an emoji font (the HTML report, read offline).
    """
    counts = verdict_counts(results)
    parts = [
        f"{style.emoji} {counts[name]} {style.label}" if emoji else f"{counts[name]} {style.label}"
        for name, style in VERDICTS.items()
        if counts[name]
    ]
    target = results["target"]
    scenarios = len(results["scenarios"])
    where = f"{target['model'] or '?'} on {(target['kind'] or '?').upper()}"
    summary = " · ".join(parts) if parts else "no gated metrics"
    line = f"{summary} — {sum(counts.values())} gates over {scenarios} scenario runs, {where}"
    run = results["run"]
    if run["partial"]:
        line += f" (PARTIAL: {run.get('partial_reason') or 'run interrupted'})"
    return line


def _as_change(ratio: float | None) -> float | None:
    return None if ratio is None else ratio - 1.0


def change(decision: GateDoc) -> float | None:
    """Estimated relative change (Hodges–Lehmann), in the metric's own direction: tokens/s 30 % lower
    is -0.30, because the gate's ``ratio`` is current / baseline in the metric's own units."""
    return _as_change(decision["ratio"])


def change_bound(decision: GateDoc) -> float | None:
    """The one-sided confidence bound of the change on the worse side (latency: at least this;
    tokens/s: at most this)."""
    return _as_change(decision["ratio_bound"])


def transition(run_id: str, decision: GateDoc, sides: tuple[str, str] = ("A", "B")) -> str:
    """``decode@c1 e2e: A 104.2 ms → B 125.3 ms (+20.3 %) REGRESSION``: one gated metric of a
    comparison of two sides (A/B mode, the ``compare`` command), in the terminal's words."""
    from pytest_cerebras_perf.report.units import format_change, format_metric

    metric = decision["metric"]
    before, after = format_metric(decision["baseline_p50"], metric), format_metric(decision["current_p50"], metric)
    moved = format_change(change(decision))
    verdict = decision["verdict"].upper()
    return f"{run_id} {metric}: {sides[0]} {before} → {sides[1]} {after} ({moved}) {verdict}"
