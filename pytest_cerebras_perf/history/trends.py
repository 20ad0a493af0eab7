"""What the history says about this run: the ``shifted`` note on a verdict and the report's trends.

A change point among the last :data:`SHIFT_WINDOW` runs of a scenario × metric (this run included),
with at least :data:`CONFIRMING_RUNS` runs at the new level (this run alone is the gate's business),
becomes the note "since run X on DATE, e2e +15 %" on that metric's verdict, at test time, so the
terminal, the results and the report carry it and ``--perf-fail-on-shift`` can fail the test. The
trends section (last :data:`TREND_RUNS` runs per scenario × gated metric, accepted-baseline runs and
fingerprint changes marked) is written into the results document after the run is appended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from ..gate import Verdict, run_centre
from ..metrics import METRICS, Sample, metric_values
from ..redact import redact
from ..report.units import format_change
from ..results_doc import HistoryDoc, TrendDoc
from .changepoints import INSTALL_HINT, ChangePoint, available, change_points
from .entries import RunEntry
from .location import describe
from .store import HistoryError, HistoryStore, Point

TREND_RUNS = 30  # runs per trend line in the report, and the series change points are sought in
SHIFT_WINDOW = 10  # a change point this many runs back or fewer is news: the verdict says so
CONFIRMING_RUNS = 2  # runs at the new level before it is called a shift: one run alone may be an outlier


def _day(started: str) -> str:
    return started[:10] or "?"


def shift_note(points: Sequence[Point], metric: str) -> tuple[str | None, list[ChangePoint]]:
    """The ``shifted`` note for a series ending with this run (None: no recent change point)."""
    found = change_points([p.centre for p in points])
    recent = [c for c in found if len(points) - SHIFT_WINDOW <= c.index <= len(points) - CONFIRMING_RUNS]
    if not recent:
        return None, found
    last = recent[-1]
    start = points[last.index]
    return f"since run {start.run_id} on {_day(start.started)}, {metric} {format_change(last.change)}", found


def trend_metrics(metrics: Iterable[str]) -> list[str]:
    """The gated metrics that have per-request values (a run centre); rates have none."""
    return [m for m in metrics if m in METRICS]


class ShiftWatch:
    """Adds the ``shifted`` note to a scenario run's verdicts, reading the history at test time.

    A failing database costs only the notes: the first error is kept in :attr:`error` and the
    watch stops asking.
    """

    def __init__(self, store: HistoryStore, *, target_key: str, model: str, run_id: str, started: str) -> None:
        self.store, self.target_key, self.model = store, target_key, model
        self.run_id, self.started = run_id, started
        self.error: str | None = None

    def annotate(
        self, scenario: str, samples: Sequence[Sample], verdicts: Sequence[Verdict], *, fail_on_shift: bool
    ) -> list[Verdict]:
        out = list(verdicts)
        if self.error is not None or not available():
            return out
        for index, verdict in enumerate(out):
            if verdict.metric not in METRICS:
                continue
            centre = run_centre(metric_values(samples, verdict.metric))
            if centre is None:
                continue
            try:
                earlier = self.store.series(self.target_key, self.model, scenario, verdict.metric, TREND_RUNS - 1)
            except HistoryError as exc:
                self.error = str(exc)
                return out
            now = Point(0, self.run_id, self.started, centre[0], centre[1], ())
            note, _ = shift_note([*earlier, now], verdict.metric)
            if note is not None:
                out[index] = dataclasses.replace(verdict, shifted=note, fail_on_shift=fail_on_shift)
        return out

    def close(self) -> None:
        self.store.close()


def history_section(
    store: HistoryStore,
    entry: RunEntry,
    number: int,
    metrics: Sequence[str],
    accepted: Mapping[str, Iterable[str]],
) -> HistoryDoc:
    """The results document's ``history``: where the run went and, per scenario × metric, its trend."""
    trends: list[TrendDoc] = []
    for scenario in entry.scenarios:
        kept = set(accepted.get(scenario.scenario, ()))
        for metric in trend_metrics(metrics):
            points = store.series(entry.target_key, entry.model, scenario.scenario, metric, TREND_RUNS)
            if not points:
                continue
            note, found = shift_note(points, metric)
            trends.append(
                {
                    "scenario": scenario.scenario,
                    "metric": metric,
                    "points": [
                        {
                            "run": p.number,
                            "run_id": p.run_id,
                            "started": p.started,
                            "centre": p.centre,
                            "spread": p.spread,
                            "accepted": p.run_id in kept,
                            "current": p.number == number,
                            "fingerprint_changed": i > 0
                            and bool(p.fingerprints)
                            and p.fingerprints != points[i - 1].fingerprints,
                        }
                        for i, p in enumerate(points)
                    ],
                    "change_points": [
                        {"index": c.index, "run_id": points[c.index].run_id, "change": c.change, "p_value": c.p_value}
                        for c in found
                    ],
                    "shifted": note,
                }
            )
    return {
        "database": redact(describe(store.url)),
        "run": number,
        "change_points": "Apache Otava (E-Divisive means)" if available() else INSTALL_HINT,
        "trends": trends,
    }
