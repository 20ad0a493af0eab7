"""Which metrics a scenario run is gated on, with which tolerances, and the two-stage decision.

``gate.py`` holds the statistics as pure functions; this module decides what to feed them:
tolerances (global < per metric < scenarios.yaml < marker), runs that cannot be gated (client
saturated, metric not reported), and when a confirmation run is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .baselines import ScenarioBaseline
from .gate import (
    Comparison,
    GatePolicy,
    Tolerance,
    Verdict,
    confirm,
    gate_error_rate,
    gate_metric,
    suite_drift,
)
from .goodput import GOODPUT, Slo, gate_goodput
from .metrics import METRICS, Sample, metric_values
from .stats import median

ERROR_RATE = "error_rate"
EMULATOR_TAU_PRIOR = 0.01
LIVE_TAU_PRIOR = 0.05


def tau_prior(kind: str | None, emulator_profile: str | None) -> float:
    """The session-drift prior of an endpoint, used until a baseline history can estimate τ.

    A live endpoint drifts by about 5 % from day to day. The emulator drifts exactly as much as
    its profile says (``drift_tau``, 0.05 for the Cerebras-like default), at least 1 % for the
    machine it shares: a smaller prior than its real drift would turn every drift draw into a
    false alarm. A profile that cannot be loaded any more (a results file from elsewhere) is
    treated as a live endpoint.
    """
    if kind != "emulator" or emulator_profile is None:
        return LIVE_TAU_PRIOR
    from .emulator.profile import load_profile
    from .emulator.validation import ConfigError

    try:
        return max(EMULATOR_TAU_PRIOR, load_profile(emulator_profile).drift_tau)
    except ConfigError:
        return LIVE_TAU_PRIOR


LENGTH_DEPENDENT = ("e2e", "server_total", "network_overhead")
"""Metrics that grow with the output length: compared with a baseline only when the lengths were
the scenario's (a server that ignored the pinned length makes them incomparable, not slower)."""


def tolerance_for(metric: str, global_relative: float, overrides: Mapping[str, Any]) -> Tolerance:
    """``overrides`` maps metric -> relative fraction, or -> {relative, abs_floor}."""
    base = Tolerance(relative=global_relative, abs_floor=METRICS[metric].abs_floor)
    override = overrides.get(metric, overrides.get("default"))
    if override is None:
        return base
    if isinstance(override, Mapping):
        return Tolerance(
            relative=float(override.get("relative", base.relative)),
            abs_floor=float(override.get("abs_floor", base.abs_floor)),
            floor_scales="abs_floor" not in override,  # a floor the user wrote down is theirs
        )
    return replace(base, relative=float(override))


def not_gated(metric: str, note: str, current: Sequence[float]) -> Verdict:
    spec = METRICS.get(metric)
    higher_is_better = bool(spec and spec.higher_is_better)
    p50 = median(current) if current else None
    return Verdict(
        metric=metric,
        verdict="not-gated",
        higher_is_better=higher_is_better,
        n=len(current),
        current_p50=p50,
        note=note,
    )


def gate_run(
    samples: Sequence[Sample],
    baseline: ScenarioBaseline | None,
    *,
    metrics: Sequence[str],
    global_tolerance: float,
    overrides: Mapping[str, Any],
    policy: GatePolicy,
    keep_runs: int,
    saturated: bool,
    confirm_samples: Callable[[], Sequence[Sample]],
    suite_tau: Mapping[str, float] | None = None,
    slo: Slo | None = None,
    unpinned: str | None = None,
) -> tuple[list[Verdict], int]:
    """Verdicts per gated metric, and how many confirmation samples stage 2 measured (0 if none).

    ``suite_tau`` maps a metric to its drift pooled over the suite's scenarios (:func:`suite_taus`).
    ``unpinned`` says why the output lengths were not the scenario's: then the length-dependent
    metrics are not gated.
    """
    pooled_tau = suite_tau or {}
    if saturated:
        note = "client saturated: these figures describe the client, not the endpoint"
        return [not_gated(m, note, metric_values(samples, m) if m in METRICS else []) for m in metrics], 0
    stage1: dict[str, Verdict] = {}
    against: dict[str, Comparison] = {}
    for metric in metrics:
        if metric == GOODPUT:
            stage1[metric] = (
                gate_goodput(samples, slo, baseline, keep_runs)
                if slo
                else not_gated(metric, "the scenario declares no slo", [])
            )
            continue
        if metric == ERROR_RATE:
            failed = sum(1 for s in samples if not s.ok)
            rates = baseline.error_rates(keep_runs) if baseline else []
            stage1[metric] = gate_error_rate(failed, len(samples), rates)
            continue
        current = metric_values(samples, metric)
        if not current:
            stage1[metric] = not_gated(metric, "not reported by this endpoint", current)
            continue
        if unpinned is not None and metric in LENGTH_DEPENDENT:
            stage1[metric] = not_gated(metric, "output length not as pinned by the scenario", current)
            continue
        against[metric] = Comparison(
            baseline.pooled_runs(metric, keep=keep_runs) if baseline else [],
            higher_is_better=METRICS[metric].higher_is_better,
            tolerance=tolerance_for(metric, global_tolerance, overrides),
            policy=policy,
            history=baseline.history(metric) if baseline else [],
            suite_tau=pooled_tau.get(metric),
        )
        stage1[metric] = gate_metric(metric, current, against[metric])
    flagged = [m for m, v in stage1.items() if v.verdict == "regression" and m not in (ERROR_RATE, GOODPUT)]
    if not flagged:
        return list(stage1.values()), 0
    extra = list(confirm_samples())
    pooled = [*samples, *extra]
    for metric in flagged:
        stage1[metric] = confirm(stage1[metric], metric_values(pooled, metric), against[metric])
    return list(stage1.values()), len(extra)


def suite_taus(scenarios: Iterable[ScenarioBaseline], metrics: Sequence[str], policy: GatePolicy) -> dict[str, float]:
    """Per gated metric, the drift pooled over every scenario of the baseline file (``suite_drift``)."""
    stored = list(scenarios)
    pooled: dict[str, float] = {}
    for metric in metrics:
        if metric not in METRICS:
            continue
        histories = [scenario.history(metric) for scenario in stored]
        tau = suite_drift(histories, higher_is_better=METRICS[metric].higher_is_better, policy=policy)
        if tau is not None:
            pooled[metric] = tau
    return pooled
