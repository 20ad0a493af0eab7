"""What a person reads in the terminal: the header, the start line and the summary.

Live progress is in progress.py, failure messages in messages.py, the summary table in figures.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import cli
from .caveats import FLOOR_DISABLES, NO_ITERATIONS_CAN, caveat, iterations_for
from .dialect import describe
from .report.units import format_change, format_percent
from .report.verdicts import transition
from .settings import Settings

if TYPE_CHECKING:
    from .records import ScenarioRecord
    from .session import PerfSession

NOTABLE = ("regression", "drifting", "improvement", "inconclusive")  # one summary line each


def header(settings: Settings, kind: str, rootdir: Path) -> str:
    where = {
        "emulator": f"EMULATOR (built-in, profile {settings.emulator_profile}; not the Cerebras cloud)",
        "cloud": "Cerebras cloud",
        "custom": "custom endpoint",
    }[kind]
    levels = ",".join(str(c) for c in settings.concurrency)
    rate = f", open loop {settings.request_rate}/s" if settings.request_rate else ""
    compared = (
        f"A/B mode, interleaved: B = this run, A = {settings.ab.describe()}; no stored baselines"
        if settings.ab is not None
        else f"baselines in {cli.relative_to_root(settings.baseline_dir, rootdir)}/"
    )
    return (
        f"cerebras-perf: target {where}, model {settings.model or '(resolved at start)'}, "
        f"{settings.iterations} iterations, concurrency {levels}{rate}, {compared} (rootdir {rootdir})"
    )


def announce(config: pytest.Config, perf: PerfSession) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or perf.endpoint is None:
        return
    kind = "EMULATOR" if perf.endpoint.kind == "emulator" else perf.endpoint.kind
    how = "" if perf.settings.model else " (resolved from /v1/models)"
    against = baseline_in_use(perf) if perf.settings.ab is None else f"A/B against A = {perf.settings.ab.describe()}"
    reporter.write_line(
        f"cerebras-perf: measuring {kind} at {perf.endpoint.base_url}, model {perf.model}{how}; {against}"
    )


def baseline_in_use(perf: PerfSession) -> str:
    """The baseline set and file this session is gated against, named at the start and in the
    summary: a wrong one (another port, another name, a moved rootdir) means nothing is compared."""
    assert perf.endpoint is not None
    where = f"baseline set {perf.endpoint.key}"
    path = cli.relative_to_root(perf.baseline_file, perf.root)
    # a pytest-xdist controller loads no baseline itself: its workers' records carry theirs
    found = perf.baseline.scenarios.values() if perf.baseline else [r.baseline for r in perf.records if r.baseline]
    if not found:
        return f"{where}: none yet (looked for {path})"
    return f"{where}: {path} ({sum(len(s.runs) for s in found)} accepted scenario runs)"


def nothing_gated(perf: PerfSession, written: Mapping[str, Path] | None) -> str | None:
    """The loud end of a session in which the gate compared nothing because no baseline was found:
    every test passed, and that green means nothing."""
    verdicts = [v.verdict for r in perf.records for v in r.verdicts]
    if perf.endpoint is None or "no-baseline" not in verdicts or set(verdicts) - {"no-baseline", "not-gated"}:
        return None
    saved = " (this run was saved as its first baseline)" if written and "baseline" in written else ""
    return (
        f"no baseline at {cli.relative_to_root(perf.baseline_file, perf.root)} (baseline set "
        f"{perf.endpoint.key}){saved}; record one with --perf-save, or check --perf-baseline-dir, "
        f"--perf-target-name and the rootdir ({perf.root})"
    )


def shared_endpoint(perf: PerfSession) -> str:
    """The pytest-xdist controller's header line: one endpoint for every worker, and what that costs."""
    kind = "EMULATOR" if perf.endpoint is not None and perf.endpoint.kind == "emulator" else "the endpoint"
    where = perf.endpoint.base_url if perf.endpoint is not None else ""
    return (
        f"cerebras-perf: every pytest-xdist worker measures {kind} at {where}; scenarios running in "
        "parallel share it, so their latencies are not those of a serial run"
    )


def grouped_warnings(records: Sequence[ScenarioRecord]) -> dict[str, list[str]]:
    """One line per distinct warning, naming the scenario runs it applies to (not four copies)."""
    grouped: dict[str, list[str]] = {}
    for record in records:
        for warning in record.warnings:
            text = warning.removeprefix(f"{record.id}: ")
            grouped.setdefault(text, []).append(record.id)
    return grouped


def underpowered_block(records: Sequence[ScenarioRecord]) -> list[str]:
    """The ``underpowered`` passes as one block: a line per remedy, then a line per scenario run.

    On a drifting endpoint most gates of a suite share the cause (the drift term alone exceeds the
    tolerance), so sixteen copies of one sentence hide the one thing to do. The per-gate sentence
    stays in the JUnit properties and the report.
    """
    causes: dict[str, dict[str, list[str]]] = {}
    for record in records:
        for verdict in record.verdicts:
            if verdict.verdict != "underpowered":
                continue
            gate = f"{verdict.metric} {format_percent(verdict.mde)} > {format_percent(verdict.tolerance)}"
            if verdict.floor_disabled:
                cause = FLOOR_DISABLES
            elif verdict.iterations_needed is None:
                cause = NO_ITERATIONS_CAN
            else:
                cause = "more iterations would do"
                gate += f" (--iterations {iterations_for(verdict.iterations_needed, record.concurrency)})"
            causes.setdefault(cause, {}).setdefault(record.id, []).append(gate)
    if not causes:
        return []
    count = sum(len(gates) for runs in causes.values() for gates in runs.values())
    lines = [
        f"  {'UNDERPOWERED':12} {count} pass{'es' if count > 1 else ''} could not have seen a regression of "
        "their own tolerance (MDE > tolerance):"
    ]
    for cause, runs in sorted(causes.items()):
        lines.append(f"    {cause}:")
        lines += [f"      {run_id}: {', '.join(gates)}" for run_id, gates in runs.items()]
    return lines


def ab_summary(reporter: Any, perf: PerfSession) -> None:
    """A/B mode: what A was, how many blocks ran, and A → B for every gated metric of every run."""
    assert perf.settings.ab is not None
    blocks = sum(len(r.ab.pairs) for r in perf.records if r.ab is not None)
    reporter.write_line(f"A/B, interleaved, {blocks} blocks: A = {perf.settings.ab.describe()}, B = this run")
    for record in perf.records:
        for verdict in record.verdicts:
            if verdict.verdict != "not-gated":
                reporter.write_line("  " + transition(record.id, verdict.to_json()), red=verdict.fails)


def summary(reporter: Any, perf: PerfSession, written: Mapping[str, Path] | None) -> None:
    if not perf.records:
        return
    reporter.write_sep("=", "cerebras-perf summary")
    kind = (
        perf.endpoint.kind.upper()
        if perf.endpoint and perf.endpoint.kind == "emulator"
        else (perf.endpoint.kind if perf.endpoint else "?")
    )
    reporter.write_line(f"target {kind} {perf.endpoint.base_url if perf.endpoint else ''}, model {perf.model}")
    dialect = describe([s for r in perf.records for s in r.result.samples])
    if dialect is not None and perf.endpoint is not None:
        reporter.write_line(f"endpoint dialect: {dialect}; length sent as {', '.join(perf.length_fields)}")
    if perf.settings.ab is not None:
        ab_summary(reporter, perf)
    elif perf.endpoint is not None and perf.model is not None:
        reporter.write_line(baseline_in_use(perf))
    from . import figures  # numpy: the summary only exists once something was measured

    for line in figures.table(perf.records, perf.settings.percentiles):
        reporter.write_line(line)
    for line in figures.error_lines(perf.records):
        reporter.write_line(line, yellow=True)
    notable = [(r, v) for r in perf.records for v in r.verdicts if v.verdict in NOTABLE]
    for record, verdict in notable:
        change = format_change(verdict.ratio - 1) if verdict.ratio is not None else ""
        why = caveat(verdict.to_json(), record.concurrency) or verdict.note
        reporter.write_line(f"  {verdict.verdict.upper():12} {record.id} {verdict.metric} {change} {why}")
    for line in underpowered_block(perf.records):
        reporter.write_line(line)
    for record in perf.records:
        for verdict in record.verdicts:
            if verdict.shifted:  # a change point in the run history (history/trends.py)
                reporter.write_line(f"  {'SHIFTED':12} {record.id} {verdict.shifted}", yellow=True)
    counts: dict[str, int] = {}
    for record in perf.records:
        for verdict in record.verdicts:
            counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    if counts:
        reporter.write_line("gate: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for warning, ids in grouped_warnings(perf.records).items():
        reporter.write_line(f"warning: {warning} ({', '.join(ids)})", yellow=True)
    for note in perf.notes:
        reporter.write_line(note, yellow=True)
    if perf.partial_reason:
        reporter.write_line(f"PARTIAL RUN: {perf.partial_reason}", red=True)
    for name, path in (written or {}).items():
        reporter.write_line(f"{name}: {path}")
    loud = nothing_gated(perf, written)
    if loud is not None:
        reporter.write_sep("!", "NOTHING WAS GATED", red=True, bold=True)
        reporter.write_line(loud, red=True, bold=True)
