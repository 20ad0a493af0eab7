"""The results dict as the report reads it: one :class:`ScenarioRun` per scenario × concurrency.

Every figure and table reads metrics through here (and so through ``sample_metric_from_json``),
which keeps "server time not reported" a missing value everywhere instead of a zero somewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_cerebras_perf.metrics import sample_metric_from_json
from pytest_cerebras_perf.stats import summarize

# Colour-blind-safe, distinct on white; one per scenario name, in order of first appearance.
PALETTE = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#B279A2",
    "#E45756",
    "#72B7B2",
    "#9D755D",
    "#EECA3B",
    "#FF9DA6",
    "#79706E",
)


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario at one concurrency level, with the colour its scenario has everywhere."""

    raw: Mapping[str, Any]
    colour: str

    @property
    def id(self) -> str:
        return str(self.raw.get("id") or f"{self.name}@c{self.concurrency}")

    @property
    def name(self) -> str:
        return str(self.raw.get("name", "?"))

    @property
    def concurrency(self) -> int:
        return int(self.raw.get("concurrency") or 1)

    @property
    def samples(self) -> Sequence[Mapping[str, Any]]:
        return self.raw.get("samples") or []

    @property
    def failed_samples(self) -> list[Mapping[str, Any]]:
        return [s for s in self.samples if not s.get("ok")]

    @property
    def aggregate(self) -> Mapping[str, Any]:
        return self.raw.get("aggregate") or {}

    @property
    def gate(self) -> Sequence[Mapping[str, Any]]:
        return self.raw.get("gate") or []

    def values(self, metric: str) -> list[float]:
        """The metric over successful samples; undefined values (None) are left out, never zeroed."""
        values = (sample_metric_from_json(sample, metric) for sample in self.samples)
        return [v for v in values if v is not None]

    def baseline_values(self, metric: str) -> list[float]:
        """What this run was compared with: the stored baseline's samples, or A's in an A/B run."""
        ab = self.raw.get("ab")
        if isinstance(ab, Mapping):
            values = (sample_metric_from_json(sample, metric) for sample in (ab.get("a") or {}).get("samples") or [])
            return [v for v in values if v is not None]
        baseline = self.raw.get("baseline") or {}
        return [float(v) for v in (baseline.get("samples") or {}).get(metric) or []]

    def summary(self, metric: str) -> Mapping[str, Any] | None:
        """The run's stored summary of a metric, or one computed from its samples when absent."""
        stored = (self.raw.get("summary") or {}).get(metric)
        if stored:
            return dict(stored)
        computed = summarize(self.values(metric))
        return None if computed is None else computed.to_json()

    def stat(self, metric: str, key: str) -> float | None:
        summary = self.summary(metric)
        value = None if summary is None else summary.get(key)
        return None if value is None else float(value)

    @property
    def reports_server_times(self) -> bool:
        return bool(self.values("server_total"))


def scenario_runs(results: Mapping[str, Any]) -> list[ScenarioRun]:
    """All runs, ordered by scenario (first appearance) then concurrency, each scenario one colour."""
    raw_runs = list(results.get("scenarios") or [])
    names: list[str] = []
    for raw in raw_runs:
        if str(raw.get("name", "?")) not in names:
            names.append(str(raw.get("name", "?")))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    runs = [ScenarioRun(raw, colours[str(raw.get("name", "?"))]) for raw in raw_runs]
    return sorted(runs, key=lambda run: (names.index(run.name), run.concurrency))


def concurrency_levels(runs: Sequence[ScenarioRun]) -> list[int]:
    return sorted({run.concurrency for run in runs})
