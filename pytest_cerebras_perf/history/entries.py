"""The narrow adapter between the results document and the history: the only module that reads it.

Other engineers add fields to the results document; the history takes just what it keeps (who ran
what, where, with which settings, and per scenario × metric a summary plus the raw samples), so a
change elsewhere in the document touches nothing here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..gate import run_centre
from ..metrics import METRICS, sample_metric_from_json
from ..redact import redact, strip_credentials
from ..results_doc import ResultsDoc, SampleDoc


@dataclass(frozen=True)
class MetricEntry:
    metric: str
    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    centre: float | None
    spread: float | None


@dataclass(frozen=True)
class ScenarioEntry:
    scenario: str  # <scenario>@c<concurrency>
    concurrency: int
    complete: bool
    fingerprints: tuple[str, ...]
    samples: bytes  # zlib-compressed JSON
    metrics: tuple[MetricEntry, ...]


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    started: str
    finished: str | None
    partial: bool
    target_kind: str | None
    target_key: str
    base_url: str | None
    model: str
    commit_id: str | None
    branch: str | None
    plugin_version: str | None
    sdk_version: str | None
    settings: str  # JSON
    scenarios: tuple[ScenarioEntry, ...]


def metric_entry(metric: str, values: Sequence[float]) -> MetricEntry | None:
    """The summary kept per metric; the centre is the gate's (:func:`gate.run_centre`)."""
    if not values:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    p50, p90, p99 = (float(p) for p in np.percentile(data, (50.0, 90.0, 99.0)))
    centre = run_centre(data)
    return MetricEntry(
        metric,
        int(data.size),
        p50,
        p90,
        p99,
        float(data.mean()),
        None if centre is None else centre[0],
        None if centre is None else centre[1],
    )


def scenario_metrics(samples: Sequence[SampleDoc]) -> tuple[MetricEntry, ...]:
    entries = []
    for metric in METRICS:
        values = [v for v in (sample_metric_from_json(s, metric) for s in samples) if v is not None]
        entry = metric_entry(metric, values)
        if entry is not None:
            entries.append(entry)
    return tuple(entries)


def compress_samples(samples: Sequence[object]) -> bytes:
    """The samples as JSON, redacted (a model may echo a secret) and then compressed: the database is
    written like every other file, with no registered secret in it (files.write_atomic)."""
    return zlib.compress(redact(json.dumps(list(samples), separators=(",", ":"), default=str)).encode(), 6)


def decompress_samples(blob: bytes) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(zlib.decompress(blob))
    return loaded


def run_entry(results: ResultsDoc) -> RunEntry:
    """What the history keeps of one results document."""
    run, target = results["run"], results["target"]
    commit = run.get("commit")
    base_url = target.get("base_url")
    scenarios = [
        ScenarioEntry(
            scenario=scenario["id"],
            concurrency=scenario["concurrency"],
            complete=scenario.get("complete", True),
            fingerprints=tuple(redact(f) for f in scenario.get("system_fingerprints") or ()),
            samples=compress_samples(scenario["samples"]),
            metrics=scenario_metrics(scenario["samples"]),
        )
        for scenario in results["scenarios"]
    ]
    return RunEntry(
        run_id=run["id"],
        started=run["started"],
        finished=run.get("finished"),
        partial=bool(run.get("partial")),
        target_kind=target.get("kind"),
        target_key=target.get("baseline_set") or target.get("kind") or "unknown",
        base_url=redact(strip_credentials(base_url)) if base_url else None,
        model=target.get("model") or "unknown",
        commit_id=commit["id"] if commit else None,
        branch=commit.get("branch") if commit else None,
        plugin_version=run.get("plugin_version"),
        sdk_version=run.get("sdk_version"),
        settings=redact(json.dumps(results.get("settings") or {}, sort_keys=True, default=str)),
        scenarios=tuple(scenarios),
    )
