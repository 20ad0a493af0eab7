"""Accepting a session's runs as baselines (``--perf-save``): which runs may be saved, and saving them.

Beside ``baselines.py``, which owns the file: this module owns the policy. A baseline changes only
on purpose, so every run that is not saved says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .baselines import BaselineRun, save_runs
from .fingerprint import fingerprints
from .metrics import METRICS, metric_values
from .records import ScenarioRecord
from .results import sdk_version
from .session import now_iso

if TYPE_CHECKING:
    from .session import PerfSession


def save_baselines(perf: PerfSession) -> tuple[Path | None, list[str]]:
    """Append complete, error-free scenario runs to the baseline file (atomically).

    A baseline changes only on purpose: a scenario whose regression was confirmed is not
    appended unless ``--perf-accept-regression`` says so (a nightly "save on main" would
    otherwise absorb the regression and widen every later MDE), and a run that was not gated
    because the client was saturated describes the client, not the endpoint.
    """
    notes: list[str] = []
    if perf.partial_reason:
        return None, [f"baselines NOT saved: the run is partial ({perf.partial_reason})"]
    runs: dict[str, BaselineRun] = {}
    tolerances: dict[str, Mapping[str, Any]] = {}
    measured_by: dict[str, list[str]] = {}
    for record in perf.records:
        if record.nodeid not in measured_by.setdefault(record.id, []):
            measured_by[record.id].append(record.nodeid)
    for record in perf.records:
        refusal = _not_saved_because(record, perf.settings.accept_regression, measured_by[record.id])
        if refusal is not None:
            note = f"{record.id}: NOT saved as a baseline: {refusal}"
            notes += [note] if note not in notes else []  # once for the run, however many records share it
            continue
        accepted = [v.metric for v in record.verdicts if v.verdict == "regression"]
        if accepted:
            notes.append(
                f"{record.id}: saved WITH its confirmed regression of {', '.join(accepted)} "
                "(--perf-accept-regression): later runs are gated against it"
            )
        runs[record.id] = BaselineRun(
            run_id=perf.run_id,
            accepted=now_iso(),
            commit=perf.commit["id"] if perf.commit else None,
            iterations=len(record.result.samples),
            samples={m: metric_values(record.result.samples, m) for m in METRICS},
            error_rate=record.aggregate["error_rate"],
            max_completion_tokens=record.request.get("max_completion_tokens"),
            plugin_version=__version__,
            sdk_version=sdk_version(),
            system_fingerprints=fingerprints(record.result.samples),
        )
        tolerances[record.id] = dict(record.scenario.tolerances)
    if not runs:
        return None, notes or ["baselines NOT saved: no complete scenario run"]
    assert perf.model is not None
    save_runs(perf.baseline_file, target=perf.target_identity, model=perf.model, runs=runs, tolerances=tolerances)
    return perf.baseline_file, notes


def _not_saved_because(record: ScenarioRecord, accept_regression: bool, measured_by: list[str]) -> str | None:
    if len(measured_by) > 1:  # pytest-xdist workers cannot see each other's records (PerfSession.measure)
        return f"{' and '.join(measured_by)} both measured it, so neither run is taken as its baseline"
    if not record.complete:
        return "the run is incomplete"
    if any(not s.ok for s in record.result.samples):
        return "it had errors"
    if record.aggregate["client"]["saturated"]:
        return "the client was saturated, so the run describes the client and was not gated"
    regressed = [v.metric for v in record.verdicts if v.verdict == "regression"]
    if regressed and not accept_regression:
        return (
            f"confirmed regression of {', '.join(regressed)}; saving it would make the regression the "
            "baseline (rerun with --perf-save --perf-accept-regression if the change is intended)"
        )
    return None
