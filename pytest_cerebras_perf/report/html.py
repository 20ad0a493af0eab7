"""The results dict -> the template's context -> one self-contained HTML file.

Everything a person reads is formatted here (units, verdict colours, truncation), so the template
only lays things out. jinja2 autoescapes every value: prompts, model outputs and scenario names
are shown as text, never interpreted as markup. Only the chart SVGs, which matplotlib generated
and escaped itself, are marked safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from pytest_cerebras_perf import __version__
from pytest_cerebras_perf.caveats import caveat
from pytest_cerebras_perf.files import write_atomic
from pytest_cerebras_perf.metrics import METRICS
from pytest_cerebras_perf.report import ab as ab_view
from pytest_cerebras_perf.report.charts import Chart, baseline_charts, concurrency_chart, reasoning_charts, study_charts
from pytest_cerebras_perf.report.runs import ScenarioRun, SummaryKey, concurrency_levels, scenario_runs
from pytest_cerebras_perf.report.trends import trend_charts
from pytest_cerebras_perf.report.units import (
    display_unit,
    format_change,
    format_metric,
    format_number,
    format_p_value,
    format_percent,
    format_value,
    metric_label,
)
from pytest_cerebras_perf.report.verdicts import (
    VERDICTS,
    VerdictStyle,
    change,
    change_bound,
    headline,
    verdict_counts,
    verdict_style,
)
from pytest_cerebras_perf.results_doc import CommitDoc, GateDoc, ResultsDoc, RunDoc
from pytest_cerebras_perf.saturation import SATURATED, achieved_text, describe
from pytest_cerebras_perf.stats import summarize

OUTPUT_LIMIT = 4000  # characters of one model output shown in the report
OUTPUTS_SHOWN = 3  # distinct outputs shown per scenario run
_STATS: tuple[SummaryKey, ...] = ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")  # in the metric's unit
SUMMARY_KEYS = ("n", *_STATS, "cv")

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("pytest_cerebras_perf.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Banner:
    css: str
    title: str
    text: str


@dataclass(frozen=True)
class Stage:
    """One stage of a gate decision as shown in the verdict table."""

    verdict: VerdictStyle
    change: str
    bound: str
    p_value: str


@dataclass(frozen=True)
class VerdictRow:
    scenario: str
    colour: str
    metric: str
    metric_label: str
    verdict: VerdictStyle
    baseline: str
    current: str
    change: str
    bound: str
    tolerance: str
    mde: str
    tau: str
    tau_value: str
    p_value: str
    samples: str
    stage: int
    stage1: Stage | None
    note: str


@dataclass(frozen=True)
class MatrixRow:
    """One scenario run across the gated metrics; a cell is None where that metric was not gated."""

    run: ScenarioRun
    cells: list[VerdictRow | None]


@dataclass(frozen=True)
class RunRow:
    run: ScenarioRun
    requests: str
    error_rate: str
    cells: list[str]
    flags: list[str]
    achieved: str


@dataclass(frozen=True)
class ErrorRow:
    kind: str
    status: str
    message: str
    count: int


@dataclass(frozen=True)
class Output:
    index: int
    text: str
    truncated_from: int | None


@dataclass(frozen=True)
class SummaryRow:
    metric: str
    unit: str
    cells: list[str]


@dataclass(frozen=True)
class Detail:
    run: ScenarioRun
    description: str
    prompt: str
    max_tokens: str
    outputs: list[Output]
    summary: list[SummaryRow]
    errors: list[ErrorRow]


RUN_COLUMNS: tuple[tuple[str, SummaryKey, str], ...] = (
    ("ttft", "p50", "p50 TTFT"),
    ("ttft", "p90", "p90 TTFT"),
    ("e2e", "p50", "p50 e2e"),
    ("output_tps", "p50", "p50 tok/s per request"),
    ("server_total", "p50", "p50 server total"),
)


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _when(value: str | None) -> str:
    moment = _timestamp(value)
    if moment is None:
        return str(value or "–")
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _duration(run: RunDoc) -> str:
    start, end = _timestamp(run["started"]), _timestamp(run["finished"])
    if start is None or end is None:
        return "–"
    seconds = (end - start).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _banners(results: ResultsDoc) -> list[Banner]:
    run = results["run"]
    banners: list[Banner] = []
    if results["target"]["kind"] == "emulator":
        banners.append(
            Banner(
                "emulator",
                "EMULATOR",
                "These numbers come from the built-in local emulator, not from a real inference endpoint. "
                "They exercise the plugin; they say nothing about Cerebras.",
            )
        )
    ab_heading = ab_view.heading(results)
    if ab_heading is not None:
        banners.append(Banner("ab", *ab_heading))
    if run["partial"]:
        banners.append(
            Banner(
                "partial",
                "PARTIAL RUN",
                f"The run stopped early: {run.get('partial_reason') or 'interrupted'}. "
                "Only what was measured before that is shown.",
            )
        )
    return banners


def _cached_tokens(run: ScenarioRun) -> str:
    counts = [
        float(cached)
        for sample in run.samples
        if sample["ok"]
        and (usage := sample["usage"]) is not None
        and (cached := usage.get("cached_tokens")) is not None
    ]
    found = summarize(counts)
    return "not reported" if found is None else f"{found.p50:.0f}"


def _prompt_cache_rows(runs: Sequence[ScenarioRun]) -> list[tuple[str, str]]:
    """Cold vs warm: a ``prompt_cache: cold`` run beside a warm run of the same prompt and concurrency."""
    rows = []
    for cold in (r for r in runs if r.raw.get("prompt_cache") == "cold"):
        for warm in runs:
            if (
                warm.raw.get("prompt_cache") != "cold"
                and warm.raw.get("prompt") == cold.raw.get("prompt")
                and warm.concurrency == cold.concurrency
            ):
                ttft = {run.id: summarize(run.values("ttft")) for run in (cold, warm)}
                shown = {key: "–" if s is None else format_metric(s.p50, "ttft") for key, s in ttft.items()}
                rows.append(
                    (
                        f"Prompt cache: cold {cold.id} vs warm {warm.id}",
                        f"TTFT p50 {shown[cold.id]} cold vs {shown[warm.id]} warm; cached prompt tokens p50 "
                        f"{_cached_tokens(cold)} cold vs {_cached_tokens(warm)} warm",
                    )
                )
    return rows


def _commit(commit: CommitDoc | None) -> str:
    if not commit:
        return "–"
    text = f"{commit['id'][:12]} on {commit.get('branch', '?')}"
    return text + " (uncommitted changes)" if commit.get("dirty") else text


def _metadata(results: ResultsDoc, runs: Sequence[ScenarioRun]) -> list[tuple[str, str]]:
    run, target, settings = results["run"], results["target"], results["settings"]
    levels = ", ".join(str(level) for level in concurrency_levels(runs)) or "–"
    rows = [
        ("Target", f"{target['kind'] or '?'} · {target['base_url'] or '?'}"),
        ("Model", target["model"] or "?"),
    ]
    if target.get("emulator_profile"):
        rows.append(("Emulator profile", str(target.get("emulator_profile"))))
    if target.get("dialect"):
        rows.append(("Endpoint dialect", str(target.get("dialect"))))
    if target.get("length_fields"):
        rows.append(("Length sent as", ", ".join(target.get("length_fields") or [])))
    rows += _prompt_cache_rows(runs)
    rows += [
        ("Started", _when(run["started"])),
        ("Duration", _duration(run)),
        ("Complete", "no — " + (run.get("partial_reason") or "interrupted") if run["partial"] else "yes"),
        ("Iterations", f"{settings['iterations']} per scenario (+{settings['warmup']} warmup)"),
        ("Concurrency", levels),
        ("Gated metrics", ", ".join(settings.get("gate_metrics", [])) or "–"),
        ("Tolerance", format_percent(settings.get("tolerance"))),
        ("Suite α", str(settings.get("alpha_suite", "–"))),
        ("Commit", _commit(run["commit"])),
        ("Plugin", run["plugin_version"]),
        ("cerebras-cloud-sdk", run["sdk_version"]),
        ("Python", run["python"]),
        ("Run id", run["id"]),
        ("Command", " ".join(run.get("argv", [])) or "–"),
    ]
    return rows


def _stage(decision: GateDoc) -> Stage:
    return Stage(
        verdict_style(decision["verdict"]),
        format_change(change(decision)),
        format_change(change_bound(decision)),
        format_p_value(decision["p_value"]),
    )


def _tau(decision: GateDoc) -> str:
    tau = decision.get("tau")
    if tau is None:
        return "–"
    source = decision.get("tau_source")
    return f"{format_percent(tau)} ({source})" if source else format_percent(tau)


def _verdict_rows(runs: Sequence[ScenarioRun]) -> list[VerdictRow]:
    rows: list[VerdictRow] = []
    for run in runs:
        for decision in run.gate:
            metric = decision["metric"]
            stage1 = decision.get("stage1")
            rows.append(
                VerdictRow(
                    scenario=run.id,
                    colour=run.colour,
                    metric=metric,
                    metric_label=metric_label(metric),
                    verdict=verdict_style(decision["verdict"]),
                    baseline=format_metric(decision["baseline_p50"], metric),
                    current=format_metric(decision["current_p50"], metric),
                    change=format_change(change(decision)),
                    bound=format_change(change_bound(decision)),
                    tolerance=format_percent(decision["tolerance"]),
                    mde=format_percent(decision["mde"]),
                    tau=_tau(decision),
                    tau_value=format_percent(decision.get("tau")),
                    p_value=format_p_value(decision["p_value"]),
                    samples=f"{decision.get('n', '–')} / {decision.get('m', '–')}",
                    stage=decision["stage"],
                    stage1=_stage(stage1) if stage1 else None,
                    note="; ".join(
                        text
                        for text in (
                            caveat(decision, run.concurrency),
                            decision.get("note", ""),
                            f"shifted {decision['shifted']}" if decision.get("shifted") else None,
                            run.raw.get("e2e_cause") if metric == "e2e" else None,
                        )
                        if text
                    ),
                )
            )
    return rows


ATTENTION = ("regression", "drifting", "underpowered", "inconclusive", "improvement")


def _matrix(runs: Sequence[ScenarioRun], rows: Sequence[VerdictRow]) -> tuple[list[str], list[MatrixRow]]:
    """Scenario × gated metric, the glanceable form of the verdicts."""
    metrics: list[str] = []
    for row in rows:
        if row.metric not in metrics:
            metrics.append(row.metric)
    by_cell = {(row.scenario, row.metric): row for row in rows}
    matrix = [MatrixRow(run, [by_cell.get((run.id, metric)) for metric in metrics]) for run in runs if run.gate]
    return metrics, matrix


def _run_rows(runs: Sequence[ScenarioRun]) -> list[RunRow]:
    rows = []
    for run in runs:
        aggregate = run.aggregate
        requests = aggregate.get("requests", len(run.samples))
        ok = aggregate.get("ok", requests - len(run.failed_samples))
        cells = [format_metric(run.stat(metric, key), metric) for metric, key, _ in RUN_COLUMNS]
        cells.append(format_value(aggregate["aggregate_output_tps"], "tok/s"))
        cells.append(format_number(aggregate["request_throughput"], 2))
        flags = []
        if aggregate["client"]["saturated"]:
            flags.append("client saturated")
        if not run.reports_server_times:
            flags.append("no server times")
        error_rate = format_percent(aggregate["error_rate"])
        rows.append(RunRow(run, f"{ok} / {requests}", error_rate, cells, flags, achieved_text(aggregate)))
    return rows


def _warnings(runs: Sequence[ScenarioRun]) -> list[str]:
    warnings: list[str] = []
    for run in runs:
        said = run.raw.get("warnings", [])
        warnings += [f"{run.id}: {warning}" for warning in said]
        if run.aggregate["client"]["saturated"] and not any(SATURATED in warning for warning in said):
            # a results file written before the run's own warning said so
            warnings.append(f"{run.id}: {describe(run.aggregate)}; its figures were not gated.")
        if run.failed_samples:
            warnings.append(
                f"{run.id}: {len(run.failed_samples)} of {len(run.samples)} requests failed (see Errors below)."
            )
        if run.samples and not run.reports_server_times:
            warnings.append(
                f"{run.id}: server times not reported by this endpoint; server metrics are missing, not zero."
            )
    return warnings


def _errors(run: ScenarioRun) -> list[ErrorRow]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for sample in run.failed_samples:
        error = sample["error"]
        if error is None:
            continue
        status = error["status"]
        key = (error["kind"], "–" if status is None else str(status), error["message"])
        counts[key] += 1
    return [ErrorRow(kind, status, message, count) for (kind, status, message), count in counts.most_common()]


def _outputs(run: ScenarioRun) -> list[Output]:
    outputs: list[Output] = []
    seen: set[str] = set()
    for index, sample in enumerate(run.samples):
        text = sample.get("content", "")
        if not sample["ok"] or not text or text in seen:
            continue
        seen.add(text)
        truncated = len(text) if len(text) > OUTPUT_LIMIT else None
        outputs.append(Output(index + 1, text[:OUTPUT_LIMIT], truncated))
        if len(outputs) == OUTPUTS_SHOWN:
            break
    return outputs


def _summary_rows(run: ScenarioRun) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    for metric in METRICS:
        summary = run.summary(metric)
        if summary is None:
            label = "not reported by this endpoint" if metric.startswith("server") else "no data"
            rows.append(SummaryRow(metric_label(metric), "", [label]))
            continue
        cells = [str(summary.n)]
        cells += [format_metric(getattr(summary, key), metric, with_unit=False) for key in _STATS]
        cells.append(format_percent(summary.cv))
        rows.append(SummaryRow(metric_label(metric), display_unit(metric).label, cells))
    return rows


def _details(runs: Sequence[ScenarioRun]) -> list[Detail]:
    return [
        Detail(
            run=run,
            description=run.raw.get("description", ""),
            prompt=run.raw.get("prompt", ""),
            max_tokens=str(run.raw.get("max_completion_tokens") or "not set"),
            outputs=_outputs(run),
            summary=_summary_rows(run),
            errors=_errors(run),
        )
        for run in runs
    ]


def _gated_metrics(results: ResultsDoc, runs: Sequence[ScenarioRun]) -> list[str]:
    """Gated metrics in settings order, then any other metric a gate decision mentions."""
    ordered = list(results["settings"].get("gate_metrics", []))
    for run in runs:
        ordered += [d["metric"] for d in run.gate if d["metric"] not in ordered]
    return [metric for metric in ordered if metric in METRICS]


def _chart_markup(chart: Chart) -> dict[str, object]:
    # The SVG is matplotlib's output: every text in it is drawn as glyph paths or escaped by
    # matplotlib's writer, and the only attribute we add (aria-label) is escaped in svg.py.
    return {"key": chart.key, "title": chart.title, "caption": chart.caption, "svg": Markup(chart.svg)}


def _history(results: ResultsDoc) -> dict[str, object] | None:
    """Where the run went in the history, and the ``shifted`` notes as text beside the charts."""
    history = results.get("history")
    if not history:
        return None
    return {
        "database": history["database"],
        "run": str(history["run"]),
        "change_points": history["change_points"],
        "shifts": [f"{t['scenario']}: shifted {t['shifted']}" for t in history["trends"] if t["shifted"]],
    }


def build_context(results: ResultsDoc) -> dict[str, object]:
    """Everything the template shows, already formatted."""
    runs = scenario_runs(results)
    target = results["target"]
    counts = verdict_counts(results)
    charts = study_charts(runs) if runs else []
    thinking = reasoning_charts(runs) if runs else []
    gated = _gated_metrics(results, runs)
    labels = ab_view.sides(results)
    extra = baseline_charts(runs, gated, labels) if runs else []
    trade_off = concurrency_chart(runs) if runs else None
    verdict_rows = _verdict_rows(runs)
    matrix_metrics, matrix = _matrix(runs, verdict_rows)
    return {
        "title": f"Inference performance · {target['model'] or '?'}",
        "target": target,
        "started": _when(results["run"]["started"]),
        "banners": _banners(results),
        "headline": headline(results, emoji=False),
        "counts": [(style, counts[name]) for name, style in VERDICTS.items() if counts[name]],
        "verdict_rows": verdict_rows,
        "matrix_metrics": [(metric, metric_label(metric)) for metric in matrix_metrics],
        "matrix": matrix,
        "attention_rows": [row for row in verdict_rows if row.verdict in (VERDICTS[v] for v in ATTENTION)],
        "notes": [row for row in verdict_rows if row.note],
        "warnings": _warnings(runs),
        "metadata": _metadata(results, runs),
        "run_columns": [label for _, _, label in RUN_COLUMNS],
        "run_rows": _run_rows(runs),
        "study_charts": [_chart_markup(chart) for chart in charts],
        "reasoning_charts": [_chart_markup(chart) for chart in thinking],
        "baseline_charts": [_chart_markup(chart) for chart in extra],
        "concurrency_chart": None if trade_off is None else _chart_markup(trade_off),
        "trend_charts": [_chart_markup(chart) for chart in trend_charts(results)],
        "history": _history(results),
        "details": _details(runs),
        "sides": labels,
        "ab_metrics": [metric_label(metric) for metric in ab_view.shown_metrics(runs, gated)],
        "ab_rows": ab_view.side_rows(runs, ab_view.shown_metrics(runs, gated)),
        "summary_keys": SUMMARY_KEYS,
        "version": __version__,
    }


def render_report(results: ResultsDoc) -> str:
    """The report as one HTML document: inline CSS and SVG, no script, no external reference."""
    return _ENVIRONMENT.get_template("report.html.j2").render(build_context(results))


def write_report(results: ResultsDoc, path: Path) -> Path:
    """Render and write the report atomically; returns the path written."""
    return write_atomic(Path(path), render_report(results))
