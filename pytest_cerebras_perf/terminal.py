"""What a person reads in the terminal: the header, live progress, gate failures and the summary table."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .metrics import METRICS, Sample, metric_values
from .session import PerfSession, ScenarioRecord
from .settings import Settings
from .stats import summarize

T = TypeVar("T")
PROGRESS_EVERY = 5.0
TABLE_METRICS = ("ttft", "e2e", "output_tps", "server_total", "network_overhead_pct")


def header(settings: Settings, kind: str) -> str:
    where = {
        "emulator": f"EMULATOR (built-in, profile {settings.emulator_profile}; not the Cerebras cloud)",
        "cloud": "Cerebras cloud",
        "custom": "custom endpoint",
    }[kind]
    levels = ",".join(str(c) for c in settings.concurrency)
    rate = f", open loop {settings.request_rate}/s" if settings.request_rate else ""
    return (
        f"cerebras-perf: target {where}, model {settings.model or '(resolved at start)'}, "
        f"{settings.iterations} iterations, concurrency {levels}{rate}"
    )


def announce(config: pytest.Config, perf: PerfSession) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or perf.endpoint is None:
        return
    kind = "EMULATOR" if perf.endpoint.kind == "emulator" else perf.endpoint.kind
    runs = sum(len(s.runs) for s in perf.baseline.scenarios.values()) if perf.baseline else 0
    baseline = f"{perf.baseline_file} ({runs} accepted scenario runs)" if perf.baseline else "none yet"
    reporter.write_line(
        f"cerebras-perf: measuring {kind} at {perf.endpoint.base_url}, model {perf.model}; baseline: {baseline}"
    )


def shared_endpoint(perf: PerfSession) -> str:
    """The pytest-xdist controller's header line: one endpoint for every worker, and what that costs."""
    kind = "EMULATOR" if perf.endpoint is not None and perf.endpoint.kind == "emulator" else "the endpoint"
    where = perf.endpoint.base_url if perf.endpoint is not None else ""
    return (
        f"cerebras-perf: every pytest-xdist worker measures {kind} at {where}; scenarios running in "
        "parallel share it, so their latencies are not those of a serial run"
    )


def with_progress(config: pytest.Config, perf: PerfSession, work: Callable[[], T]) -> T:
    """Run ``work`` and print one progress line every few seconds: readable in a CI log, no \\r spam."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY):
            record = perf.records[-1] if perf.records else None
            if record is None or reporter is None:
                continue
            samples = record.result.samples
            errors = sum(1 for s in samples if not s.ok)
            planned = perf.settings.iterations * record.concurrency
            reporter.write_line(f"    {record.id}: {len(samples)}/{planned} requests, {errors} errors")

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        return work()
    finally:
        done.set()
        thread.join(timeout=1)


def why_failed(records: Sequence[ScenarioRecord], *, require_baseline: bool) -> str | None:
    """Why the test fails, one line per reason: a run where no request succeeded measured nothing
    (a test that passed then would hide an outage), a confirmed regression, a missing required baseline."""
    lines = []
    for record in records:
        samples = record.result.samples
        stopped = record.result.stopped
        if stopped is not None and stopped != "interrupted":  # a breaker or quota stop: say why it ended early
            lines.append(f"{record.id}: {stopped} ({len(samples)} requests kept)")
        elif samples and not any(s.ok for s in samples):
            lines.append(f"{record.id}: all {len(samples)} requests failed, nothing was measured: {_errors(samples)}")
        for verdict in record.verdicts:
            if verdict.verdict == "regression":
                lines.append(verdict.failure_message(record.id))
            elif verdict.verdict == "no-baseline" and require_baseline:
                lines.append(
                    f"{record.id}: {verdict.metric}: no baseline (--perf-require-baseline); accept one with --perf-save"
                )
    return "\n".join(lines) if lines else None


def _errors(samples: Sequence[Sample]) -> str:
    """``3x server_error 500 (Internal server error), 1x timeout (request timed out)``."""
    counts: dict[str, int] = {}
    for sample in samples:
        if sample.error is not None:
            status = f" {sample.error.status}" if sample.error.status is not None else ""
            key = f"{sample.error.kind}{status} ({sample.error.message})"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n}x {key}" for key, n in sorted(counts.items(), key=lambda item: -item[1]))


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f}"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:,.0f}"


def table(records: Sequence[ScenarioRecord]) -> list[str]:
    heads = ["scenario", *(f"{m} p50/p90" + (" ms" if METRICS[m].unit == "s" else "") for m in TABLE_METRICS)]
    rows = [heads]
    for record in records:
        row = [record.id]
        for metric in TABLE_METRICS:
            summary = summarize(metric_values(record.result.samples, metric))
            unit = METRICS[metric].unit
            row.append("-" if summary is None else f"{_cell(summary.p50, unit)}/{_cell(summary.p90, unit)}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]


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
    for line in table(perf.records):
        reporter.write_line(line)
    notable = [
        (r, v) for r in perf.records for v in r.verdicts if v.verdict in ("regression", "improvement", "inconclusive")
    ]
    for record, verdict in notable:
        change = f"{(verdict.ratio - 1) * 100:+.1f}%" if verdict.ratio is not None else ""
        reporter.write_line(f"  {verdict.verdict.upper():12} {record.id} {verdict.metric} {change} {verdict.note}")
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
                f"{record.aggregate.get('loop_lag_p99', 0.0) * 1000:.1f} ms, "
                f"{record.aggregate.get('dispatch_share', 0.0) * 100:.0f}% of request time waiting for the client);"
                " its figures are not gated: lower --concurrency or use --perf-workers N",
                yellow=True,
            )
    for note in perf.notes:
        reporter.write_line(note, yellow=True)
    if perf.partial_reason:
        reporter.write_line(f"PARTIAL RUN: {perf.partial_reason}", red=True)
    for name, path in (written or {}).items():
        reporter.write_line(f"{name}: {path}")
