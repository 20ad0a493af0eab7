"""The report's charts: the original study's eight figures, baseline vs current, and the
throughput–latency trade-off of a concurrency sweep, each rendered to an inline SVG string.

Every chart reads raw samples through :class:`ScenarioRun`; a metric an endpoint did not report is
marked "not reported" in place, never drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import blended_transform_factory

from pytest_cerebras_perf.report.plotting import (
    LIGHT_FILL,
    SOLID_FILL,
    BoxStrips,
    Slot,
    auto_scale,
    label_axis,
    label_height,
    layout,
    mark_missing,
    plain_text,
)
from pytest_cerebras_perf.report.runs import ScenarioRun, concurrency_levels
from pytest_cerebras_perf.report.svg import MUTED, Margins, chart_style, figure_svg, new_figure
from pytest_cerebras_perf.report.units import display_unit, format_number, format_rounded_change, metric_label
from pytest_cerebras_perf.report.verdicts import change, verdict_style
from pytest_cerebras_perf.results_doc import GateDoc
from pytest_cerebras_perf.stats import median

WIDTH = 10.0

STUDY_FIGURES: dict[str, str] = {
    "latency": "Server vs client latency",
    "ttft": "Time to first token",
    "throughput": "Server vs client throughput",
    "server-components": "Server component times",
    "network-overhead": "Network overhead",
    "token-usage": "Token usage",
    "variability": "Variability (std / mean)",
    "distributions": "Distributions of key metrics",
}
REASONING_FIGURES: dict[str, str] = {
    "reasoning-tokens": "Reasoning vs content tokens",
    "ttft-ttfo": "Time to first token vs first output token",
}
FIGURE_TITLES = {**STUDY_FIGURES, **REASONING_FIGURES}
COMPONENTS: dict[str, str] = {"server_queue": "#94a3b8", "server_prompt": "#6366f1", "server_completion": "#1e1b4b"}
VARIABILITY_METRICS = (
    "server_total",
    "server_prompt",
    "server_completion",
    "server_queue",
    "server_output_tps",
    "ttft",
    "e2e",
    "output_tps",
    "tpot",
)
KEY_METRICS = ("server_total", "e2e", "ttft", "server_output_tps", "output_tps", "tpot")
VERDICT_INK = {"regression": "#b91c1c", "improvement": "#15803d", "inconclusive": "#b45309"}
BASELINE_COLOUR = "#9ca3af"
HEATMAP = colormaps["YlOrRd"]
MISSING_CELL = "#f3f4f6"


@dataclass(frozen=True)
class Chart:
    """One figure of the report: ``key`` is its stable ``data-figure`` name."""

    key: str
    title: str
    caption: str
    svg: str


def _axis_label(metric: str, label: str | None = None) -> str:
    return f"{label or metric_label(metric)} ({display_unit(metric).label})"


def _scaled(run: ScenarioRun, metric: str) -> list[float]:
    factor = display_unit(metric).factor
    return [v * factor for v in run.values(metric)]


PANEL = 2.7  # inches of plot area per row of axes


def _render(key: str, title: str, caption: str, margins: Margins, rows: int, draw: Callable[[Figure], None]) -> Chart:
    """Build a chart ``rows`` panels tall (each PANEL inches plus its labels) and render it to SVG."""
    height = margins.top + margins.bottom + rows * PANEL + (rows - 1) * margins.hspace * PANEL
    with chart_style():
        figure = new_figure(WIDTH, height, margins)
        draw(figure)
        return Chart(key, title, caption, figure_svg(figure, key, title))


def _margins(runs: Sequence[ScenarioRun], **overrides: float) -> Margins:
    return Margins(bottom=label_height(runs) + 0.1, **overrides)


def _stacked_margins(runs: Sequence[ScenarioRun], **overrides: float) -> Margins:
    """Margins for panels above one another: each gap holds the labels below and a panel title."""
    margins = _margins(runs, top=0.75, **overrides)
    return replace(margins, hspace=(margins.bottom + 0.4) / PANEL)


def _legend_above(ax: Axes, handles: Sequence[Patch]) -> None:
    """A legend in the title row, right-aligned, so it never covers data or steals plot width."""
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(handles), borderaxespad=0.2)


def _metric_panel(ax: Axes, slots: Sequence[Slot], metric: str, *, compact: bool = False) -> None:
    """One metric's box + strip per run; runs without the metric say so."""
    boxes = BoxStrips()
    for slot in slots:
        values = _scaled(slot.run, metric)
        if values:
            boxes.add(slot.x, values, slot.run.colour)
        else:
            mark_missing(ax, slot.x)
    boxes.draw(ax)
    auto_scale(ax, boxes.values)
    label_axis(ax, slots, compact=compact)


def _paired_panel(ax: Axes, slots: Sequence[Slot], pair: Sequence[tuple[str, str]]) -> None:
    """Two metrics of one unit side by side per run: the first filled dark, the second light."""
    boxes = BoxStrips()
    for slot in slots:
        for (metric, _), offset, solid in zip(pair, (-0.21, 0.21), (True, False), strict=True):
            values = _scaled(slot.run, metric)
            if values:
                boxes.add(slot.x + offset, values, slot.run.colour, width=0.36, solid=solid)
            else:
                mark_missing(ax, slot.x + offset)
    boxes.draw(ax)
    auto_scale(ax, boxes.values)
    label_axis(ax, slots)
    handles = [
        Patch(facecolor=MUTED + fill, edgecolor=MUTED, label=label)
        for (_, label), fill in zip(pair, (SOLID_FILL, LIGHT_FILL), strict=True)
    ]
    _legend_above(ax, handles)


def _study_chart(
    runs: Sequence[ScenarioRun],
    key: str,
    caption: str,
    margins: Margins,
    rows: int,
    draw: Callable[[Figure, str, list[Slot]], None],
) -> Chart:
    """One of the study's (or the reasoning) figures: its title from :data:`FIGURE_TITLES`, its
    panels drawn by ``draw`` with the runs laid out side by side."""
    title = FIGURE_TITLES[key]
    slots = layout(runs)
    return _render(key, title, caption, margins, rows, lambda figure: draw(figure, title, slots))


def _one_panel_chart(
    runs: Sequence[ScenarioRun],
    key: str,
    caption: str,
    ylabel: str,
    panel: Callable[[Axes, list[Slot]], None],
) -> Chart:
    def draw(figure: Figure, title: str, slots: list[Slot]) -> None:
        ax = figure.subplots()
        panel(ax, slots)
        ax.set_ylabel(ylabel)
        ax.set_title(title)

    return _study_chart(runs, key, caption, _margins(runs), 1, draw)


def _paired_chart(
    runs: Sequence[ScenarioRun], key: str, caption: str, ylabel: str, pair: Sequence[tuple[str, str]]
) -> Chart:
    return _one_panel_chart(runs, key, caption, ylabel, lambda ax, slots: _paired_panel(ax, slots, pair))


def _single_chart(runs: Sequence[ScenarioRun], key: str, metric: str, caption: str) -> Chart:
    return _one_panel_chart(runs, key, caption, _axis_label(metric), lambda ax, slots: _metric_panel(ax, slots, metric))


def _draw_server_components(figure: Figure, title: str, slots: list[Slot]) -> None:
    stacked, side = figure.subplots(2, 1)
    boxes = BoxStrips()
    for slot in slots:
        components = [_scaled(slot.run, metric) for metric in COMPONENTS]
        if not all(components):
            mark_missing(stacked, slot.x)
            mark_missing(side, slot.x)
            continue
        bottom = 0.0
        for colour, values in zip(COMPONENTS.values(), components, strict=True):
            height = median(values)
            stacked.bar(slot.x, height, width=0.62, bottom=bottom, color=colour, edgecolor="white", linewidth=0.5)
            bottom += height
        for colour, values, offset in zip(COMPONENTS.values(), components, (-0.27, 0, 0.27), strict=True):
            boxes.add(slot.x + offset, values, colour, width=0.24)
    boxes.draw(side)
    stacked.set_ylim(bottom=0)
    auto_scale(side, boxes.values)
    for ax, subtitle in ((stacked, "stacked (medians)"), (side, "side by side (every sample)")):
        label_axis(ax, slots)
        ax.set_ylabel("time (ms)")
        ax.set_title(subtitle, fontsize=9.5, fontweight="normal")
    _legend_above(
        stacked,
        [
            Patch(color=colour, label=metric_label(metric).removeprefix("server "))
            for metric, colour in COMPONENTS.items()
        ],
    )
    figure.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=10.5, fontweight="bold")


def _draw_variability(figure: Figure, title: str, slots: list[Slot]) -> None:
    ax = figure.subplots()
    percents: dict[tuple[float, str], float | None] = {}
    for slot in slots:
        for metric in VARIABILITY_METRICS:
            cv = slot.run.stat(metric, "cv")
            percents[(slot.x, metric)] = None if cv is None or not math.isfinite(cv) else cv * 100
    norm = Normalize(0, max(20.0, math.ceil(max((p for p in percents.values() if p is not None), default=0))))
    for (x, metric), percent in percents.items():
        row = VARIABILITY_METRICS.index(metric)
        shade = 0.0 if percent is None else float(norm(percent))
        colour = MISSING_CELL if percent is None else HEATMAP(shade)
        ax.add_patch(Rectangle((x - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="white", linewidth=1))
        text = "–" if percent is None else format_number(percent, 0)
        ax.text(x, row, text, ha="center", va="center", fontsize=7, color="white" if shade > 0.6 else "#111827")
    ax.set_ylim(len(VARIABILITY_METRICS) - 0.5, -0.5)
    ax.set_yticks(range(len(VARIABILITY_METRICS)), [metric_label(m) for m in VARIABILITY_METRICS])
    ax.grid(False)
    ax.tick_params(axis="y", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    label_axis(ax, slots)
    figure.colorbar(ScalarMappable(norm=norm, cmap=HEATMAP), ax=ax, label="std / mean (%)", fraction=0.04, pad=0.01)
    ax.set_title(title)


def _scenario_legend(figure: Figure, runs: Sequence[ScenarioRun]) -> None:
    colours = {run.name: run.colour for run in runs}
    handles = [Patch(color=colour, label=plain_text(name)) for name, colour in colours.items()]
    figure.legend(handles=handles, loc="upper right", bbox_to_anchor=(0.995, 0.995), ncols=min(len(handles), 3))


def _draw_distributions(figure: Figure, title: str, slots: list[Slot]) -> None:
    axes = figure.subplots(3, 2)
    for ax, metric in zip(axes.flat, KEY_METRICS, strict=True):
        _metric_panel(ax, slots, metric, compact=True)
        ax.set_title(_axis_label(metric), fontsize=9, fontweight="normal")
    _scenario_legend(figure, [slot.run for slot in slots])
    figure.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=10.5, fontweight="bold")


def study_charts(runs: Sequence[ScenarioRun]) -> list[Chart]:
    """The original study's eight figures, in its order, drawn from raw samples."""
    return [
        _paired_chart(
            runs,
            "latency",
            "End-to-end latency seen by the client against the total time the server reports; the gap "
            "is network and client time.",
            "latency (ms)",
            (("server_total", "server total time"), ("e2e", "client end-to-end")),
        ),
        _single_chart(
            runs,
            "ttft",
            "ttft",
            "From sending the request to the first token of any kind (reasoning or content), per request.",
        ),
        _paired_chart(
            runs,
            "throughput",
            "Output tokens per second: server = completion tokens / completion time; client = "
            "(tokens − 1) / (e2e − ttft), the streaming speed a user sees.",
            "throughput (tok/s)",
            (("server_output_tps", "server output tok/s"), ("output_tps", "client output tok/s")),
        ),
        _study_chart(
            runs,
            "server-components",
            "Where the server spent its time. Top: the median of each component, stacked "
            "(queue + prompt + completion). Bottom: every sample of each component side by side.",
            _stacked_margins(runs),
            2,
            _draw_server_components,
        ),
        _single_chart(
            runs,
            "network-overhead",
            "network_overhead_pct",
            "(client end-to-end − server total) / server total × 100, relative to SERVER time as in the "
            "original study.",
        ),
        _paired_chart(
            runs,
            "token-usage",
            "Prompt and completion tokens per request, from the API's usage.",
            "tokens",
            (("prompt_tokens", "prompt tokens"), ("completion_tokens", "completion tokens")),
        ),
        _study_chart(
            runs,
            "variability",
            "Coefficient of variation (std / mean, in %) of each metric in each run: the noise a gate "
            "has to see through. Grey cells: not reported by this endpoint.",
            _margins(runs, left=1.75),
            1,
            _draw_variability,
        ),
        _study_chart(
            runs,
            "distributions",
            "Box-and-whisker plots built from the raw samples (box: quartiles, whiskers: 1.5 IQR, dots: "
            "every request) of the metrics the original study boxed, plus time per output token.",
            Margins(left=0.7, top=0.95, bottom=0.35, wspace=0.18, hspace=0.75 / PANEL),
            3,
            _draw_distributions,
        ),
    ]


def reasoning_charts(runs: Sequence[ScenarioRun]) -> list[Chart]:
    """For reasoning models only: how long each request thought against how long it answered, and
    when the first token of any kind arrived against the first token of the answer."""
    if not any(value > 0 for run in runs for value in _scaled(run, "reasoning_tokens")):
        return []
    return [
        _paired_chart(
            runs,
            "reasoning-tokens",
            "Reasoning and content (answer) tokens per request, from usage.completion_tokens_details; "
            "reasoning length is drawn per request and moves with reasoning_effort or a model update.",
            "tokens",
            (("reasoning_tokens", "reasoning tokens"), ("content_tokens", "content tokens")),
        ),
        _paired_chart(
            runs,
            "ttft-ttfo",
            "TTFT: first token of any kind; TTFO: first content token, after the reasoning. The gap is "
            "the time the model spent thinking before it answered.",
            "latency (ms)",
            (("ttft", "ttft"), ("ttfo", "ttfo")),
        ),
    ]


def _verdict_note(ax: Axes, x: float, decision: GateDoc | None) -> None:
    if decision is None:
        return
    verdict = decision["verdict"]
    delta = change(decision)
    label = verdict_style(verdict).label
    text = label if delta is None else f"{format_rounded_change(delta)}\n{label}"
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(
        x,
        1.0,
        text,
        transform=transform,
        ha="center",
        va="bottom",
        fontsize=7.5,
        color=VERDICT_INK.get(verdict, MUTED),
        fontweight="bold" if verdict in VERDICT_INK else "normal",
    )


def _baseline_chart(runs: Sequence[ScenarioRun], metric: str, sides: tuple[str, str]) -> Chart:
    key = f"baseline-{metric}"
    title = f"{sides[0]} vs {sides[1]}: {metric_label(metric)}"
    pooled = "; ".join(
        f"{run.id}: {baseline['runs']} runs, {len(run.baseline_values(metric))} samples"
        for run in runs
        if (baseline := run.raw.get("baseline"))
    )
    compared = "Pooled baseline samples" if sides[0] == "Baseline" else "A's samples, interleaved with B's,"
    caption = (
        f"{compared} (grey) against this run (colour) for {metric_label(metric)}, with "
        "the gate's estimated change and verdict above each pair."
        + (f" The baseline is what the gate compared with ({pooled})." if pooled else "")
    )

    def draw(figure: Figure) -> None:
        ax = figure.subplots()
        slots = layout(runs)
        factor = display_unit(metric).factor
        boxes = BoxStrips()
        for slot in slots:
            baseline = [v * factor for v in slot.run.baseline_values(metric)]
            current = _scaled(slot.run, metric)
            if baseline:
                boxes.add(slot.x - 0.21, baseline, BASELINE_COLOUR, width=0.36)
            else:
                mark_missing(ax, slot.x - 0.21, "no baseline")
            if current:
                boxes.add(slot.x + 0.21, current, slot.run.colour, width=0.36)
            else:
                mark_missing(ax, slot.x + 0.21)
            decision = next((g for g in slot.run.gate if g.get("metric") == metric), None)
            _verdict_note(ax, slot.x, decision)
        boxes.draw(ax)
        auto_scale(ax, boxes.values)
        label_axis(ax, slots)
        ax.set_ylabel(_axis_label(metric))
        ax.set_title(title, pad=28)

    return _render(key, title, caption, _margins(runs, top=0.75), 1, draw)


def baseline_charts(
    runs: Sequence[ScenarioRun], metrics: Sequence[str], sides: tuple[str, str] = ("Baseline", "Current")
) -> list[Chart]:
    """One baseline-vs-current chart (A vs B in an A/B run) per gated metric that has baseline samples somewhere."""
    return [
        _baseline_chart(runs, metric, sides) for metric in metrics if any(run.baseline_values(metric) for run in runs)
    ]


def concurrency_chart(runs: Sequence[ScenarioRun]) -> Chart | None:
    """The batching trade-off of a concurrency sweep; None when only one level ran."""
    if len(concurrency_levels(runs)) < 2:
        return None
    key = "concurrency"
    title = "Throughput vs latency across concurrency"
    caption = (
        "Left: aggregate output tok/s of each run (all requests together) against its p50 time to "
        "first token; right: the p50 tok/s a single request streams at. Batching more requests buys "
        "aggregate throughput with per-request speed and latency. Crosses: client saturated."
    )

    def draw(figure: Figure) -> None:
        trade, per_request = figure.subplots(1, 2)
        by_name: dict[str, list[ScenarioRun]] = {}
        for run in runs:
            by_name.setdefault(run.name, []).append(run)
        for group in by_name.values():
            colour = group[0].colour
            ttft = [(run.stat("ttft", "p50") or math.nan) * display_unit("ttft").factor for run in group]
            aggregate = [run.aggregate["aggregate_output_tps"] or math.nan for run in group]
            speed = [run.stat("output_tps", "p50") or math.nan for run in group]
            levels = [run.concurrency for run in group]
            trade.plot(ttft, aggregate, "-", color=colour, linewidth=1.5)
            per_request.plot(levels, speed, "-", color=colour, linewidth=1.5)
            for run, x, y, s in zip(group, ttft, aggregate, speed, strict=True):
                marker = "x" if run.aggregate["client"]["saturated"] else "o"
                trade.plot([x], [y], marker, color=colour, markersize=5)
                per_request.plot([run.concurrency], [s], marker, color=colour, markersize=5)
                trade.annotate(
                    f"c{run.concurrency}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=MUTED
                )
        trade.set_xlabel("p50 time to first token (ms)")
        trade.set_ylabel("aggregate output (tok/s)")
        trade.set_title("aggregate throughput vs latency", fontsize=9.5)
        per_request.set_xscale("log", base=2)
        levels = concurrency_levels(runs)
        per_request.set_xticks(levels, [str(level) for level in levels])
        per_request.set_xlabel("concurrency")
        per_request.set_ylabel("p50 per-request output (tok/s)")
        per_request.set_title("per-request speed vs concurrency", fontsize=9.5)
        for ax in (trade, per_request):
            ax.set_ylim(bottom=0)
            ax.grid(True, axis="both")
        _scenario_legend(figure, runs)
        figure.suptitle(title, x=0.01, y=0.99, ha="left", va="top", fontsize=10.5, fontweight="bold")

    return _render(key, title, caption, Margins(top=0.95, bottom=0.6, wspace=0.25), 1, draw)
