"""The results document as the report reads it: one :class:`ScenarioRun` per scenario × concurrency.

Every figure and table reads metrics through here (and so through ``sample_metric_from_json``),
which keeps "server time not reported" a missing value everywhere instead of a zero somewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_cerebras_perf.metrics import sample_metric_from_json
from pytest_cerebras_perf.results_doc import Aggregate, GateDoc, ResultsDoc, SampleDoc, ScenarioEntry, Summary
from pytest_cerebras_perf.stats import summarize

SummaryKey = Literal["mean", "std", "min", "p50", "p90", "p95", "p99", "max", "cv"]

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

    raw: ScenarioEntry
    colour: str

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def name(self) -> str:
        return self.raw["name"]

    @property
    def concurrency(self) -> int:
        return self.raw["concurrency"]

    @property
    def samples(self) -> Sequence[SampleDoc]:
        return self.raw["samples"]

    @property
    def failed_samples(self) -> list[SampleDoc]:
        return [s for s in self.samples if not s["ok"]]

    @property
    def aggregate(self) -> Aggregate:
        return self.raw["aggregate"]

    @property
    def gate(self) -> Sequence[GateDoc]:
        return self.raw["gate"]

    def values(self, metric: str) -> list[float]:
        """The metric over successful samples; undefined values (None) are left out, never zeroed."""
        values = (sample_metric_from_json(sample, metric) for sample in self.samples)
        return [v for v in values if v is not None]

    def baseline_values(self, metric: str) -> list[float]:
        """What this run was compared with: the stored baseline's samples, or A's in an A/B run
        (empty: no baseline, or not recorded)."""
        ab = self.raw.get("ab")
        if ab is not None:
            values = (sample_metric_from_json(sample, metric) for sample in ab["a"].get("samples", []))
            return [v for v in values if v is not None]
        baseline = self.raw.get("baseline")
        return list(baseline["samples"].get(metric, [])) if baseline else []

    def summary(self, metric: str) -> Summary | None:
        """The run's stored summary of a metric, or one computed from its samples when absent."""
        return self.raw["summary"].get(metric) or summarize(self.values(metric))

    def stat(self, metric: str, key: SummaryKey) -> float | None:
        summary = self.summary(metric)
        return None if summary is None else getattr(summary, key)

    @property
    def reports_server_times(self) -> bool:
        return bool(self.values("server_total"))


def scenario_runs(results: ResultsDoc) -> list[ScenarioRun]:
    """All runs, ordered by scenario (first appearance) then concurrency, each scenario one colour."""
    entries = results["scenarios"]
    names = list(dict.fromkeys(entry["name"] for entry in entries))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    runs = [ScenarioRun(entry, colours[entry["name"]]) for entry in entries]
    return sorted(runs, key=lambda run: (names.index(run.name), run.concurrency))


def concurrency_levels(runs: Sequence[ScenarioRun]) -> list[int]:
    return sorted({run.concurrency for run in runs})
