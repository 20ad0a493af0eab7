"""matplotlib figures -> inline SVG strings that can sit side by side in one HTML document.

Text is drawn as paths (``svg.fonttype = 'path'``) so a chart reads the same on a machine without
our fonts; nothing is rasterized. Ids are namespaced per chart, because matplotlib reuses glyph and
clip-path ids across figures and a second SVG would otherwise resolve ``#id`` to the first one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from markupsafe import escape
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "pytest-cerebras-perf",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9ca3af",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "text.color": INK,
    "figure.dpi": 100,
    "path.simplify": True,
}

_ID = re.compile(r'\bid="')
_HREF = re.compile(r'((?:xlink:)?href)="#')
# matplotlib writes 6 decimals. Coordinates (>= 10 pt) keep one: far below a pixel, and the report
# shrinks by a third. Small numbers (glyph scales, opacities) are left exact.
_PRECISION = re.compile(r"(\d\d\.\d)\d+")


@contextmanager
def chart_style() -> Iterator[None]:
    """The report's look, applied only while a chart is built and saved (never globally)."""
    with matplotlib.rc_context(_STYLE):
        yield


@dataclass(frozen=True)
class Margins:
    """Space around the axes, in inches.

    Fixed margins instead of matplotlib's constrained layout: that re-measures every label several
    times and made the report ~40 % slower to render.
    """

    left: float = 0.85
    right: float = 0.25
    top: float = 0.5
    bottom: float = 0.6
    wspace: float = 0.22
    hspace: float = 0.45


def new_figure(width: float, height: float, margins: Margins) -> Figure:
    """A figure not registered with pyplot, so nothing global is touched and nothing leaks."""
    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(
        left=margins.left / width,
        right=1 - margins.right / width,
        top=1 - margins.top / height,
        bottom=margins.bottom / height,
        wspace=margins.wspace,
        hspace=margins.hspace,
    )
    return figure


def figure_svg(figure: Figure, key: str, title: str) -> str:
    """The figure as an ``<svg>`` element (no XML prolog) with ids prefixed by ``key``."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = _ID.sub(f'id="{key}-', text)
    text = _HREF.sub(rf'\1="#{key}-', text)
    text = text.replace("url(#", f"url(#{key}-")
    text = _PRECISION.sub(r"\1", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
