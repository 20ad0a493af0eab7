"""The CI summary: a headline and a Markdown verdict table, appended to ``$GITHUB_STEP_SUMMARY``.

Rows are ordered by how much they need a reader (regressions first), because a job summary is read
top-down and a long table of passes would bury the one line that matters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pytest_cerebras_perf.files import write_atomic
from pytest_cerebras_perf.report.units import format_change, format_metric, format_percent
from pytest_cerebras_perf.report.verdicts import (
    VERDICTS,
    change,
    change_bound,
    gate_entries,
    headline,
    verdict_style,
)
from pytest_cerebras_perf.results_doc import GateDoc, ResultsDoc, ScenarioEntry

_HEADER = (
    "| Scenario | Metric | Verdict | Baseline p50 | Current p50 | Change | Bound | MDE |",
    "|---|---|---|---:|---:|---:|---:|---:|",
)
_SEVERITY = {name: rank for rank, name in enumerate(VERDICTS)}


def _cell(text: object) -> str:
    """Table-cell text that cannot break the table or be read as HTML by the Markdown renderer."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _row(scenario: ScenarioEntry, decision: GateDoc) -> str:
    metric = decision["metric"]
    style = verdict_style(decision["verdict"])
    verdict = f"{style.emoji} {style.label}"
    if decision["stage"] == 2:
        verdict += " (stage 2)"
    cells = (
        scenario["id"],
        metric,
        verdict,
        format_metric(decision["baseline_p50"], metric),
        format_metric(decision["current_p50"], metric),
        format_change(change(decision)),
        format_change(change_bound(decision)),
        format_percent(decision["mde"]),
    )
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown_summary(results: ResultsDoc) -> str:
    """A headline, loud notes for emulator or partial runs, and the verdict table."""
    target, run = results["target"], results["run"]
    lines = [f"### Inference performance: {_cell(target['model'] or '?')}", "", _cell(headline(results)), ""]
    if target["kind"] == "emulator":
        lines += ["> **EMULATOR**: these numbers come from the built-in local emulator, not a real endpoint.", ""]
    if run["partial"]:
        lines += [f"> **PARTIAL RUN**: {_cell(run.get('partial_reason') or 'interrupted')}.", ""]
    entries = sorted(gate_entries(results), key=lambda e: _SEVERITY.get(e[1]["verdict"], len(_SEVERITY)))
    if entries:
        lines += [*_HEADER, *(_row(scenario, decision) for scenario, decision in entries)]
    else:
        lines.append("No metric was gated in this run.")
    return "\n".join(lines) + "\n"


def append_step_summary(results: ResultsDoc, env: Mapping[str, str] = os.environ) -> bool:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` when it is set; returns whether it wrote."""
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    path = Path(target)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "\n" if existing and not existing.endswith("\n") else ""
    write_atomic(path, existing + separator + markdown_summary(results))
    return True
