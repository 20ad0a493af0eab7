"""The results document (docs/results-format.md), built from a session's records and written atomically."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, ab
from .dialect import describe
from .files import write_atomic
from .fingerprint import fingerprints
from .goodput import goodput
from .metrics import METRICS
from .results_doc import SCHEMA, BaselineDoc, ResultsDoc, ScenarioEntry, TargetDoc, dump
from .stats import summaries

if TYPE_CHECKING:
    from .records import ScenarioRecord
    from .session import PerfSession


def sdk_version() -> str:
    try:
        return version("cerebras-cloud-sdk")
    except PackageNotFoundError:
        return "unknown"


def baseline_entry(record: ScenarioRecord, baseline_runs: int) -> BaselineDoc | None:
    """The baseline samples the gate compared with: the same K runs (``--perf-baseline-runs``),
    subsampled the same way (:meth:`ScenarioBaseline.pooled_runs`)."""
    if record.baseline is None:
        return None
    return {
        "runs": min(baseline_runs, len(record.baseline.runs)),
        "stored_runs": len(record.baseline.runs),
        "samples": {m: [x for run in record.baseline.pooled_runs(m, keep=baseline_runs) for x in run] for m in METRICS},
    }


def scenario_entry(
    record: ScenarioRecord, baseline_runs: int, b_model: str | None = None, b_base_url: str | None = None
) -> ScenarioEntry:
    """One scenario's results; ``baseline_runs`` is the K the gate pooled (--perf-baseline-runs).
    In A/B mode ``ab`` holds A's side; ``b_model`` and ``b_base_url`` say what B was."""
    samples = record.result.samples
    entry: ScenarioEntry = {
        "id": record.id,
        "name": record.scenario.name,
        "concurrency": record.concurrency,
        "nodeid": record.nodeid,
        "description": record.scenario.description,
        "prompt": record.scenario.prompt_text,
        "max_completion_tokens": record.request.get("max_completion_tokens"),
        "min_completion_tokens": record.request.get("min_completion_tokens"),
        "prompt_cache": record.scenario.prompt_cache,
        "complete": record.complete,
        "stopped": record.result.stopped,
        "samples": [s.to_json() for s in samples],
        "summary": summaries(samples),
        "aggregate": record.aggregate,
        "slo": dict(record.scenario.slo) or None,
        "goodput": goodput(samples, record.scenario.slo),
        "gate": [v.to_json() for v in record.verdicts],
        "e2e_cause": record.e2e_cause,
        "system_fingerprints": list(fingerprints(samples)),
        "baseline": baseline_entry(record, baseline_runs),
        "confirmation_samples": record.confirmation_samples,
        "warnings": record.warnings,
    }
    if record.ab is not None:  # A/B mode: A's side; B's samples are this entry's own
        entry["ab"] = ab.scenario_entry(record.ab, b_model=b_model, b_base_url=b_base_url, b_request=record.request)
    return entry


def build_results(session: PerfSession, *, finished: str, argv: Sequence[str]) -> ResultsDoc:
    settings = session.settings
    endpoint = session.endpoint
    target: TargetDoc = (
        endpoint.describe(session.model) if endpoint else {"kind": None, "base_url": None, "model": session.model}
    )
    target["dialect"] = describe([s for r in session.records for s in r.result.samples])
    target["length_fields"] = list(session.length_fields) if endpoint else None
    document: ResultsDoc = {
        "schema": SCHEMA,
        "run": {
            "id": session.run_id,
            "started": session.started,
            "finished": finished,
            "partial": session.partial_reason is not None,
            "partial_reason": session.partial_reason,
            "plugin_version": __version__,
            "sdk_version": sdk_version(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "platform": sys.platform,
            "commit": session.commit,
            "argv": list(argv),
        },
        "target": target,
        "settings": {
            "iterations": settings.iterations,
            "warmup": settings.warmup,
            "concurrency": list(settings.concurrency),
            "request_rate": settings.request_rate,
            "gate_metrics": list(settings.gate_metrics) if settings.gate else [],
            "tolerance": settings.tolerance,
            "alpha_suite": settings.alpha_suite,
            "timeout": settings.timeout,
        },
        "scenarios": [
            scenario_entry(r, settings.baseline_runs, session.model, endpoint.base_url if endpoint else None)
            for r in session.records
        ],
    }
    if settings.ab is not None:
        document["ab"] = ab.run_entry(settings.ab, sum(len(r.ab.pairs) for r in session.records if r.ab))
    return document


def write_results(results: ResultsDoc, path: Path) -> Path:
    return write_atomic(path, dump(results))
