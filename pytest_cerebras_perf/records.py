"""What one test's measurement produced: the :class:`ScenarioRecord` and the :class:`Run` a test sees.

Kept apart from ``session.py`` so that the modules that only show or write records (terminal,
messages, figures, results) do not depend on the machinery that measures them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .baselines import ScenarioBaseline
from .gate import Verdict
from .load import LoadResult, aggregate
from .metrics import METRICS, Sample, metric_values
from .results_doc import Aggregate, Summary
from .scenarios import Scenario
from .stats import summarize

if TYPE_CHECKING:  # ab.py measures (the SDK); a record only holds what it measured
    from .ab import ABRecord


def record_id(scenario: str, concurrency: int) -> str:
    """``<scenario>@c<concurrency>``: what a run is called in the results and keyed by in baselines."""
    return f"{scenario}@c{concurrency}"


@dataclass
class ScenarioRecord:
    """Everything one scenario × concurrency run produced, in the order it was produced."""

    scenario: Scenario
    concurrency: int
    nodeid: str
    request: dict[str, Any]
    result: LoadResult
    #: the window figures of what was measured so far (none, until ``PerfSession.measure`` ends)
    aggregate: Aggregate = field(default_factory=lambda: aggregate(LoadResult(), math.inf))
    verdicts: list[Verdict] = field(default_factory=list)
    baseline: ScenarioBaseline | None = None
    confirmation_samples: int = 0
    warnings: list[str] = field(default_factory=list)
    e2e_cause: str | None = None
    ab: ABRecord | None = None  # A's side in interleaved A/B mode
    unpinned: str | None = None  # why the output lengths were not the scenario's (dialect.length_mismatch)

    @property
    def id(self) -> str:
        return record_id(self.scenario.name, self.concurrency)

    @property
    def complete(self) -> bool:
        return self.result.stopped is None


class Run:
    """What ``cerebras_call()`` returns: samples plus a :class:`Summary` per metric (``run.ttft.p50``)."""

    def __init__(self, record: ScenarioRecord) -> None:
        self._record = record

    @property
    def samples(self) -> list[Sample]:
        return self._record.result.samples

    @property
    def aggregate(self) -> Aggregate:
        """The run's window figures (``aggregate_output_tps``, ``error_rate``...)."""
        return self._record.aggregate

    @property
    def verdicts(self) -> list[Verdict]:
        return self._record.verdicts

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    def summary(self, metric: str) -> Summary | None:
        return summarize(metric_values(self.samples, metric))

    def __getattr__(self, name: str) -> Summary:
        if name.startswith("_") or name not in METRICS:
            raise AttributeError(name)
        summary = self.summary(name)
        if summary is None:
            raise AttributeError(f"no {name!r} values in this run (all requests failed, or not reported)")
        return summary

    def __repr__(self) -> str:
        return f"<Run {self._record.id} n={len(self.samples)}>"
