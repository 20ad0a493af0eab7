"""The HTML report: one self-contained file a person opens from a CI artifact, offline."""

from pytest_cerebras_perf.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
