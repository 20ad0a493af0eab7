"""The report's trend charts: per gated metric, the last runs of the history, one panel a scenario.

Each point is a run's centre (the gate's trimmed log-centre) with a ±2 standard-error bar; runs
accepted into the baseline are drawn as squares, this run is ringed, a change point is a dashed
line labelled with its change, and a change of the endpoint's ``system_fingerprint`` a dotted one.
Reads only the results document's ``history`` section (history/trends.py writes it).
"""

from __future__ import annotations

import math

from matplotlib.axes import Axes

from pytest_cerebras_perf.report.charts import WIDTH, Chart
from pytest_cerebras_perf.report.svg import MUTED, Margins, chart_style, figure_svg, new_figure
from pytest_cerebras_perf.report.units import display_unit, format_change, metric_label
from pytest_cerebras_perf.results_doc import ResultsDoc, TrendDoc

PANEL_HEIGHT = 1.9  # inches per scenario panel
LINE = "#2563eb"
ACCEPTED = "#15803d"
CURRENT = "#b91c1c"
CHANGE = "#b45309"


def _panel(ax: Axes, trend: TrendDoc) -> None:
    metric = trend["metric"]
    factor = display_unit(metric).factor
    points = trend["points"]
    x = list(range(1, len(points) + 1))
    y = [p["centre"] * factor for p in points]
    spreads = [p["spread"] or 0.0 for p in points]
    low = [v - v * math.exp(-2 * s) for v, s in zip(y, spreads, strict=True)]
    high = [v * math.exp(2 * s) - v for v, s in zip(y, spreads, strict=True)]
    ax.errorbar(x, y, yerr=[low, high], color=LINE, ecolor="#93c5fd", marker="o", markersize=3.5, linewidth=1.2)
    accepted = [i for i, p in enumerate(points) if p["accepted"]]
    if accepted:
        ax.scatter([x[i] for i in accepted], [y[i] for i in accepted], s=38, marker="s", c="none", edgecolors=ACCEPTED)
    current = [i for i, p in enumerate(points) if p["current"]]
    if current:
        ax.scatter([x[i] for i in current], [y[i] for i in current], s=90, c="none", edgecolors=CURRENT, linewidths=1.6)
    for i, point in enumerate(points, 1):
        if point["fingerprint_changed"]:
            ax.axvline(i - 0.5, color=MUTED, linestyle=":", linewidth=1)
            ax.annotate("new fingerprint", (i - 0.45, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color=MUTED)
    for change in trend["change_points"]:
        at = change["index"] + 1
        ax.axvline(at - 0.5, color=CHANGE, linestyle="--", linewidth=1.3)
        ax.annotate(
            f"change {format_change(change['change'])}",
            (at - 0.4, 0.9),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color=CHANGE,
        )
    ax.set_xlim(0.5, len(points) + 0.5)
    ax.set_xticks(x, [str(p["run"]) for p in points], fontsize=7)
    ax.set_ylabel(display_unit(metric).label)
    title = trend["scenario"]
    if trend["shifted"]:
        title += f" — shifted {trend['shifted']}"
    ax.set_title(title, fontsize=9)


def trend_charts(results: ResultsDoc) -> list[Chart]:
    """One chart per gated metric that has a history, a panel per scenario run."""
    history = results.get("history")
    by_metric: dict[str, list[TrendDoc]] = {}
    for trend in history["trends"] if history else []:
        if trend["points"]:
            by_metric.setdefault(trend["metric"], []).append(trend)
    charts = []
    for metric, panels in by_metric.items():
        key, title = f"trend-{metric}", f"Trend: {metric_label(metric)}"
        caption = (
            f" Run centres of {metric_label(metric)} over the last runs of the history (run numbers below), "
            "±2 standard errors; squares: accepted baseline runs; ringed: this run; dashed: change points "
            "(Apache Otava); dotted: a new system fingerprint."
        )
        margins = Margins(top=0.45, bottom=0.45, hspace=0.75)
        height = margins.top + margins.bottom + len(panels) * PANEL_HEIGHT * (1 + margins.hspace) - margins.hspace
        with chart_style():
            figure = new_figure(WIDTH, height, margins)
            axes = figure.subplots(len(panels), 1, squeeze=False)
            for ax, trend in zip(axes[:, 0], panels, strict=True):
                _panel(ax, trend)
            charts.append(Chart(key, title, caption, figure_svg(figure, key, title)))
    return charts
