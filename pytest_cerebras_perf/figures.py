"""The terminal summary table: the figures LLM engineers look for (vLLM bench, GuideLLM, AIPerf).

Per scenario run: requests, the chosen percentiles (``--perf-percentiles``, p50/p95/p99 by
default) of TTFT, end-to-end latency, output tokens/s and the server's own time; inter-token
latency p50/p99; aggregate tokens/s and requests/s when more than one request was in flight;
goodput when the scenario declares an SLO; the error rate when there were errors, with the most
frequent error kinds below the table. A column appears only when some run has something to put
in it. Numbers go through :mod:`report.units`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .goodput import goodput
from .messages import error_kinds
from .metrics import METRICS, metric_values
from .report.units import display_unit, format_percent, format_value
from .stats import percentiles

if TYPE_CHECKING:
    from .records import ScenarioRecord

TABLE_METRICS = ("ttft", "e2e", "output_tps", "server_total")
ITL_PERCENTILES = (50.0, 99.0)
TOP_ERROR_KINDS = 3


@dataclass(frozen=True)
class Column:
    head: str
    cell: Callable[[ScenarioRecord], str]


def _points(points: Sequence[float]) -> str:
    return "/".join(f"p{p:g}" for p in points)


def _spread(values: Sequence[float], points: Sequence[float], data_unit: str) -> str:
    found = percentiles(values, points)
    return "-" if found is None else "/".join(format_value(v, data_unit, with_unit=False) for v in found)


def _metric_column(metric: str, points: Sequence[float]) -> Column:
    unit = METRICS[metric].unit
    return Column(
        f"{metric} {_points(points)} {display_unit(metric).label}",
        lambda r: _spread(metric_values(r.result.samples, metric), points, unit),
    )


def itl(record: ScenarioRecord) -> list[float]:
    """Every chunk gap of the run's successful requests, pooled (vLLM bench's ITL distribution)."""
    return [gap for sample in record.result.samples if sample.ok for gap in sample.itl]


def _aggregate(
    key: Literal["aggregate_output_tps", "request_throughput"], data_unit: str
) -> Callable[[ScenarioRecord], str]:
    return lambda r: format_value(r.aggregate[key], data_unit, with_unit=False)


def columns(records: Sequence[ScenarioRecord], points: Sequence[float]) -> list[Column]:
    chosen = [
        Column("scenario", lambda r: r.id),
        Column("requests", lambda r: str(len(r.result.samples))),
        *(_metric_column(metric, points) for metric in TABLE_METRICS),
        Column(f"itl {_points(ITL_PERCENTILES)} ms", lambda r: _spread(itl(r), ITL_PERCENTILES, "s")),
    ]
    if any(r.concurrency > 1 or (r.aggregate.get("mean_in_flight") or 0) > 1.5 for r in records):  # also open loop
        chosen.append(Column("tok/s", _aggregate("aggregate_output_tps", "tok/s")))
        chosen.append(Column("req/s", _aggregate("request_throughput", "req/s")))
    if any(r.scenario.slo for r in records):
        chosen.append(Column("goodput", lambda r: format_percent(goodput(r.result.samples, r.scenario.slo))))
    if any(r.aggregate.get("errors") for r in records):
        chosen.append(Column("errors", lambda r: format_percent(r.aggregate["error_rate"])))
    return chosen


def table(records: Sequence[ScenarioRecord], points: Sequence[float]) -> list[str]:
    chosen = columns(records, points)
    rows = [[c.head for c in chosen], *([c.cell(r) for c in chosen] for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(chosen))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def error_lines(records: Sequence[ScenarioRecord]) -> list[str]:
    """``errors in short@c8: 3 of 80 requests: 2x timeout (...), 1x server_error 500 (...)``."""
    return [
        f"errors in {r.id}: {r.aggregate.get('errors')} of {len(r.result.samples)} requests: "
        + error_kinds(r.result.samples, top=TOP_ERROR_KINDS)
        for r in records
        if r.aggregate.get("errors")
    ]
