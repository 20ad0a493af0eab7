"""Drawing primitives shared by the charts: the scenario × concurrency axis and box + strip plots.

Distributions are drawn from raw samples (a box for the quartiles and every sample as a dot), the
lesson of the original study, whose "box plots" were invented from mean ± std.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory

from pytest_cerebras_perf.report.runs import ScenarioRun, concurrency_levels
from pytest_cerebras_perf.report.svg import MUTED
from pytest_cerebras_perf.stats import percentiles

GROUP_GAP = 0.7
STRIP_LIMIT = 150  # dots per box; beyond this the strip thins evenly over the sorted values
LOG_SPAN = 30.0
LIGHT_FILL = "26"  # alpha suffixes for a box's fill colour: 15 % and 55 %
SOLID_FILL = "8c"  # switch an axis to log scale when max/min exceeds this


@dataclass(frozen=True)
class Slot:
    """Where one scenario run sits on a categorical x axis."""

    run: ScenarioRun
    x: float


def layout(runs: Sequence[ScenarioRun]) -> list[Slot]:
    """Runs side by side, scenarios separated by a gap so concurrency levels read as a group."""
    slots: list[Slot] = []
    x = 0.0
    for i, run in enumerate(runs):
        if i and run.name != runs[i - 1].name:
            x += GROUP_GAP
        slots.append(Slot(run, x))
        x += 1.0
    return slots


def plain_text(text: str) -> str:
    """Scenario names as literal text (matplotlib would read ``$...$`` as mathtext)."""
    return text.replace("$", r"\$")


def scenario_label(name: str, width: int = 16) -> str:
    """The name with spaces for underscores, in two balanced lines when longer than ``width``
    ("short input / long output" rather than "short input long / output")."""
    text = plain_text(name.replace("_", " ")).strip() or "?"
    words = text.split(" ")
    if len(text) <= width or len(words) < 2:
        return text
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    first, second = min(splits, key=lambda pair: max(len(pair[0]), len(pair[1])))
    if max(len(first), len(second)) <= width * 1.5:
        return f"{first}\n{second}"
    return "\n".join(textwrap.wrap(text, width=width))


def _group_label(name: str, members: int) -> str:
    return scenario_label(name, width=max(14, 10 * members))


def label_height(runs: Sequence[ScenarioRun]) -> float:
    """Inches below an axis that :func:`label_axis` needs for its labels."""
    line = 0.135
    if len(concurrency_levels(runs)) == 1:
        lines = max(scenario_label(run.name).count("\n") + 1 for run in runs)
        return 0.15 + line * lines
    members = {run.name: sum(1 for r in runs if r.name == run.name) for run in runs}
    lines = max(_group_label(name, count).count("\n") + 1 for name, count in members.items())
    return 0.4 + line * lines


def label_axis(ax: Axes, slots: Sequence[Slot], *, compact: bool = False) -> None:
    """Tick labels: the scenario names, or ``c<N>`` under each box and the name under each group.

    ``compact`` (small multiples, too narrow for names) keeps only the ``c<N>`` ticks and leaves
    the scenario to the colour legend of the figure.
    """
    ax.set_xlim(slots[0].x - 0.6, slots[-1].x + 0.6)
    ax.tick_params(axis="x", length=0)
    if len(concurrency_levels([slot.run for slot in slots])) == 1:
        ax.set_xticks([s.x for s in slots], ["" if compact else scenario_label(s.run.name) for s in slots])
        return
    ax.set_xticks([s.x for s in slots], [f"c{s.run.concurrency}" for s in slots])
    if compact:
        return
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    groups: dict[str, list[float]] = {}
    for slot in slots:
        groups.setdefault(slot.run.name, []).append(slot.x)
    for name, xs in groups.items():
        ax.annotate(
            _group_label(name, len(xs)),
            xy=(sum(xs) / len(xs), 0),
            xycoords=transform,
            xytext=(0, -17),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color=MUTED,
        )


def thin(values: Sequence[float], limit: int = STRIP_LIMIT) -> list[float]:
    """At most ``limit`` values, evenly spaced over the sorted sample so the shape survives."""
    if len(values) <= limit:
        return list(values)
    ordered = sorted(values)
    picks = np.linspace(0, len(ordered) - 1, limit).round().astype(int)
    return [ordered[i] for i in picks]


@dataclass
class BoxStrips:
    """Boxes (quartiles, 1.5 IQR whiskers) with every sample as a dot, drawn in a few artists.

    Collected first and drawn in one go: one matplotlib artist per box part made a report of a
    dozen runs spend seconds laying out thousands of ``Line2D`` objects.
    """

    xs: list[float] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    solid: list[bool] = field(default_factory=list)
    stats: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    dots: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [value for _, value, _ in self.dots] + [v for stat in self.stats for v in (stat[0], stat[4])]

    def add(self, x: float, values: Sequence[float], colour: str, *, width: float = 0.6, solid: bool = False) -> None:
        """``solid`` boxes are filled darker: the first member of a pair (server side vs client side)."""
        if not values:
            return
        data = np.asarray(values, dtype=float)
        found = percentiles(values, (25.0, 50.0, 75.0))
        assert found is not None  # values is not empty
        q1, median, q3 = found
        reach = 1.5 * (q3 - q1)
        low = float(data[data >= q1 - reach].min())
        high = float(data[data <= q3 + reach].max())
        self.xs.append(x)
        self.widths.append(width)
        self.colours.append(colour)
        self.solid.append(solid)
        self.stats.append((low, q1, median, q3, high))
        dots = thin(values)
        jitter = np.random.default_rng(len(dots)).uniform(-0.32, 0.32, len(dots)) * width
        self.dots.extend((x + j, v, colour) for j, v in zip(jitter, dots, strict=True))

    def draw(self, ax: Axes) -> None:
        if not self.xs:
            return
        boxes = ax.bar(
            self.xs,
            [q3 - q1 for _, q1, _, q3, _ in self.stats],
            bottom=[q1 for _, q1, _, _, _ in self.stats],
            width=self.widths,
            edgecolor=self.colours,
            linewidth=1.0,
            zorder=2,
            color=[
                colour + (SOLID_FILL if solid else LIGHT_FILL)
                for colour, solid in zip(self.colours, self.solid, strict=True)
            ],
        )
        for box in boxes:
            box.sticky_edges.y.clear()  # bars pin the axis to their base; a box's base is no axis limit
        whiskers: list[list[tuple[float, float]]] = []
        medians: list[list[tuple[float, float]]] = []
        whisker_colours: list[str] = []
        for x, width, colour, (low, q1, median, q3, high) in zip(
            self.xs, self.widths, self.colours, self.stats, strict=True
        ):
            cap = width / 4
            whiskers += [
                [(x, low), (x, q1)],
                [(x, q3), (x, high)],
                [(x - cap, low), (x + cap, low)],
                [(x - cap, high), (x + cap, high)],
            ]
            whisker_colours += [colour] * 4
            medians.append([(x - width / 2, median), (x + width / 2, median)])
        ax.add_collection(LineCollection(whiskers, colors=whisker_colours, linewidths=1.0, zorder=2))
        ax.add_collection(LineCollection(medians, colors=self.colours, linewidths=2.0, zorder=4))
        ax.scatter(
            [d[0] for d in self.dots],
            [d[1] for d in self.dots],
            s=9,
            c=[d[2] for d in self.dots],
            alpha=0.8,
            linewidths=0,
            zorder=3,
            clip_on=False,
        )


def mark_missing(ax: Axes, x: float, text: str = "not reported") -> None:
    """Say in the plot that a value is missing, instead of drawing a zero that looks like data."""
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(
        x,
        0.5,
        text,
        transform=transform,
        rotation=90,
        ha="center",
        va="center",
        fontsize=7.5,
        color=MUTED,
        style="italic",
    )


def auto_scale(ax: Axes, values: Sequence[float]) -> None:
    """Log scale when the values span more than LOG_SPAN×, so one tail does not flatten the rest.

    Log ticks are written as plain numbers (``100``, ``200``), not as powers of ten.
    """
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > LOG_SPAN:
        ax.set_yscale("log")
        ax.margins(y=0.06)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    elif positive:
        ax.set_ylim(bottom=0)
