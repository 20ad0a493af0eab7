"""The HTML report: one self-contained file a person opens from a CI artifact, offline.

The renderer (jinja2, matplotlib) loads on first use, so the terminal and failure messages can use
:mod:`report.units` without paying for it in every pytest start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_cerebras_perf.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pytest_cerebras_perf.report import html

        return getattr(html, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
