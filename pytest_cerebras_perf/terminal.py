"""What a person reads in the terminal: the header, the start line and the summary.

Live progress is in progress.py, failure messages in messages.py, the summary table in figures.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import cli
from .caveats import caveat
from .dialect import describe
from .report.units import format_change, format_percent, format_value
from .settings import Settings

if TYPE_CHECKING:
    from .records import ScenarioRecord
    from .session import PerfSession

NOTABLE = ("regression", "drifting", "underpowered", "improvement", "inconclusive")  # one summary line each


def header(settings: Settings, kind: str, rootdir: Path) -> str:
    where = {
        "emulator": f"EMULATOR (built-in, profile {settings.emulator_profile}; not the Cerebras cloud)",
        "cloud": "Cerebras cloud",
        "custom": "custom endpoint",
    }[kind]
    levels = ",".join(str(c) for c in settings.concurrency)
    rate = f", open loop {settings.request_rate}/s" if settings.request_rate else ""
    return (
        f"cerebras-perf: target {where}, model {settings.model or '(resolved at start)'}, "
        f"{settings.iterations} iterations, concurrency {levels}{rate}, "
        f"baselines in {cli.relative_to_root(settings.baseline_dir, rootdir)}/ (rootdir {rootdir})"
    )


def announce(config: pytest.Config, perf: PerfSession) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or perf.endpoint is None:
        return
    kind = "EMULATOR" if perf.endpoint.kind == "emulator" else perf.endpoint.kind
    how = "" if perf.settings.model else " (resolved from /v1/models)"
    reporter.write_line(
        f"cerebras-perf: measuring {kind} at {perf.endpoint.base_url}, model {perf.model}{how}; {baseline_in_use(perf)}"
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


def saturation_advice(settings: Settings) -> str:
    """What relieves a saturated client: fewer requests per client process. In an open loop that is
    a lower rate (a lower --concurrency changes nothing there; the pool follows the rate)."""
    load = "lower --request-rate" if settings.request_rate else "lower --concurrency"
    return f"{load} or use --perf-workers N"


def grouped_warnings(records: Sequence[ScenarioRecord]) -> dict[str, list[str]]:
    """One line per distinct warning, naming the scenario runs it applies to (not four copies)."""
    grouped: dict[str, list[str]] = {}
    for record in records:
        for warning in record.warnings:
            text = warning.removeprefix(f"{record.id}: ")
            grouped.setdefault(text, []).append(record.id)
    return grouped


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
    if perf.endpoint is not None and perf.model is not None:
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
    counts: dict[str, int] = {}
    for record in perf.records:
        for verdict in record.verdicts:
            counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    if counts:
        reporter.write_line("gate: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for warning, ids in grouped_warnings(perf.records).items():
        reporter.write_line(f"warning: {warning} ({', '.join(ids)})", yellow=True)
    for record in perf.records:
        if record.aggregate.get("client_saturated"):
            reporter.write_line(
                f"warning: {record.id}: the client was saturated (event-loop lag p99 "
                f"{format_value(record.aggregate.get('loop_lag_p99'), 's')}, "
                f"{format_percent(record.aggregate.get('dispatch_share'))} of request time waiting for the client);"
                f" its figures are not gated: {saturation_advice(perf.settings)}",
                yellow=True,
            )
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
