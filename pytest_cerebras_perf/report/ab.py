"""The report's view of an interleaved A/B run: the heading, and A beside B per scenario.

Everything else of an A/B report is the ordinary report read with A in the baseline's place
(the gate entries carry A's p50 as ``baseline_p50``; :meth:`ScenarioRun.baseline_values` reads A's
samples), so only what has no baseline counterpart lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_cerebras_perf.report.runs import ScenarioRun
from pytest_cerebras_perf.report.units import format_metric
from pytest_cerebras_perf.results_doc import ResultsDoc
from pytest_cerebras_perf.stats import summarize

SIDES = ("A", "B")
BASELINE_SIDES = ("Baseline", "Current")


@dataclass(frozen=True)
class SideRow:
    """One side of one scenario run: what it sent and what it measured (p50 of the gated metrics)."""

    run: ScenarioRun
    side: str
    model: str
    endpoint: str
    request: str
    requests: int
    cells: list[str]


def heading(results: ResultsDoc) -> tuple[str, str] | None:
    """(title, text) of an A/B run (``A/B, interleaved, 40 blocks``) or of a comparison of two saved
    runs (compare.py); None for an ordinary run."""
    ab, compared = results.get("ab"), results.get("compare")
    if ab is not None:
        return (
            "A/B, INTERLEAVED",
            f"A/B, interleaved, {ab['blocks']} blocks. A = {ab['describe'] or '?'}; B = this run.",
        )
    if compared is not None:
        return "COMPARE", (
            f"Two saved runs: {compared['describe'] or '?'}; the baseline gate with its drift term "
            f"(τ = {compared['tau_prior']}), since they are different sessions."
        )
    return None


def sides(results: ResultsDoc) -> tuple[str, str]:
    """What the two columns of a decision are called: A and B, or baseline and current."""
    return SIDES if "ab" in results or "compare" in results else BASELINE_SIDES


def _request(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in config.items()) or "–"


def shown_metrics(runs: Sequence[ScenarioRun], gated: Sequence[str]) -> list[str]:
    """The gated metrics, and reasoning tokens when a side reasoned (a reasoning effort's A/B shows
    its cause there)."""
    reasoned = any(run.values("reasoning_tokens") or run.baseline_values("reasoning_tokens") for run in runs)
    return [*gated, *(["reasoning_tokens"] if reasoned and "reasoning_tokens" not in gated else [])]


def side_rows(runs: Sequence[ScenarioRun], metrics: Sequence[str]) -> list[SideRow]:
    """A then B for each scenario run of an A/B session."""
    rows: list[SideRow] = []
    for run in runs:
        ab = run.raw.get("ab")
        if not isinstance(ab, Mapping):
            continue
        a, b = ab.get("a") or {}, ab.get("b") or {}
        a_cells = [format_metric(_p50(run.baseline_values(metric)), metric) for metric in metrics]
        b_cells = [format_metric(run.stat(metric, "p50"), metric) for metric in metrics]
        for name, side, cells, count in (
            ("A", a, a_cells, len(a.get("samples") or [])),
            ("B", b, b_cells, len(run.samples)),
        ):
            rows.append(
                SideRow(
                    run,
                    name,
                    str(side.get("model") or "?"),
                    str(side.get("base_url") or "?"),
                    _request(side.get("request") or {}),
                    count,
                    cells,
                )
            )
    return rows


def _p50(values: Sequence[float]) -> float | None:
    summary = summarize(values)
    return None if summary is None else summary.p50
