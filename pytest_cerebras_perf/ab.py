"""Interleaved A/B mode: what A is, how both sides are measured in one session, and how B is gated.

B is the run as configured; A differs in what the ``--perf-ab-*`` options name (settings.ABSide):
its scenarios file (paired with B's by name), its model, its endpoint or request fields. Both
sides are warmed, then alternate in randomized balanced blocks on every closed-loop slot
(load.run_interleaved), so the endpoint's drift hits both alike and the gate (ab_gate.py) needs no
drift term. Nothing is compared with stored baselines in this mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ab_gate import Paired, confirm_paired, gate_paired
from .gate import GatePolicy, Verdict, gate_error_rate
from .gating import ERROR_RATE, not_gated, tolerance_for
from .load import LoadResult, aggregate
from .metrics import METRICS, Sample, metric_values
from .redact import strip_credentials
from .results_doc import ABRunDoc, ABScenarioDoc, Aggregate
from .scenarios import Scenario, ScenarioError, load_scenarios
from .settings import ABSide, Secret
from .stats import summaries
from .target import Endpoint, TargetError

DESIGN = "interleaved: randomized balanced blocks (ABBA/BAAB) on every slot, after both sides were warmed"


class ABPairingError(Exception):
    """B's scenario has no namesake in A's scenarios file; one line, the test fails with it."""


def a_endpoint(side: ABSide, b_endpoint: Endpoint) -> Endpoint:
    """A's endpoint: ``--perf-ab-base-url`` with A's own key, else B's endpoint."""
    if side.base_url is None:
        return b_endpoint
    bare = strip_credentials(side.base_url)
    key = side.api_key or Secret("no-key-required")
    return Endpoint("custom", bare, key, dropped_credentials=bare != side.base_url)


def a_model(side: ABSide, b_model: str, endpoint: Endpoint, served: Sequence[str], default: str | None) -> str:
    """A's model: ``--perf-ab-model`` (it must be served), else B's on B's endpoint, else A's default."""
    if side.model is not None:
        if side.model not in served:
            raise TargetError(
                f"--perf-ab-model {side.model}: unknown at {endpoint.base_url}; it serves: {', '.join(served)}"
            )
        return side.model
    if side.base_url is None:
        return b_model
    if b_model in served:
        return b_model
    if default is None:
        raise TargetError(f"--perf-ab-base-url {endpoint.base_url} lists no models; pass --perf-ab-model NAME")
    return default


def a_scenarios(side: ABSide) -> dict[str, Scenario] | None:
    """A's scenarios by name from ``--perf-ab-scenarios``, or None (A uses B's scenarios)."""
    if side.scenarios_file is None:
        return None
    try:
        return load_scenarios(side.scenarios_file)
    except ScenarioError as exc:
        raise TargetError(f"--perf-ab-scenarios: {exc}") from None


@dataclass
class ABRecord:
    """A's side of one scenario run: its scenario, model and request, its samples, and the blocks."""

    scenario: Scenario
    model: str
    base_url: str
    request: dict[str, Any]
    seed: int
    result: LoadResult = field(default_factory=LoadResult)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (A sample index, B sample index) per block
    aggregate: Aggregate = field(default_factory=lambda: aggregate(LoadResult(), math.inf))


def a_record(
    side: ABSide,
    scenarios: Mapping[str, Scenario] | None,
    b_scenario: Scenario,
    overrides: Mapping[str, Any],
    *,
    model: str,
    base_url: str,
    seed: int,
) -> ABRecord:
    """A's record for B's scenario: A's namesake scenario (or B's own), the test's overrides, then
    ``--perf-ab-set``'s fields, which are what makes A differ."""
    scenario = b_scenario
    if scenarios is not None:
        if b_scenario.name not in scenarios:
            raise ABPairingError(
                f"--perf-ab-scenarios {side.scenarios_file}: no scenario {b_scenario.name!r} to pair with B's "
                f"(A/B pairs scenarios by name; A has: {', '.join(scenarios) or '(none)'})"
            )
        scenario = scenarios[b_scenario.name]
    request = scenario.request_kwargs({**overrides, **side.request})
    return ABRecord(scenario, model, base_url, request, seed)


def merge_blocks(record: ABRecord, b_result: LoadResult, extra: ABRecord, extra_b: LoadResult) -> None:
    """Append a confirmation's blocks to the run's, re-indexing its pairs past the samples already held."""
    offset_a, offset_b = len(record.result.samples), len(b_result.samples)
    record.result.merge(extra.result)
    b_result.merge(extra_b)
    record.pairs += [(i + offset_a, j + offset_b) for i, j in extra.pairs]


def paired(a: Sequence[Sample], b: Sequence[Sample], pairs: Sequence[tuple[int, int]], metric: str) -> Paired:
    """One metric's values block by block; a pair with a failed side or no value is dropped."""

    def value(sample: Sample) -> float:
        found = sample.value(metric) if sample.ok else None
        return float("nan") if found is None else found

    return Paired.of([value(a[i]) for i, _ in pairs], [value(b[j]) for _, j in pairs])


def gate_ab(
    a: ABRecord,
    b_samples: Sequence[Sample],
    *,
    metrics: Sequence[str],
    global_tolerance: float,
    overrides: Mapping[str, Any],
    policy: GatePolicy,
    saturated: bool,
    confirm: Callable[[], tuple[Sequence[Sample], Sequence[Sample], Sequence[tuple[int, int]]]],
) -> tuple[list[Verdict], int]:
    """B against A per gated metric, two-stage like the baseline gate; and how many confirmation
    blocks stage 2 measured. ``confirm`` measures as many blocks again and returns (A samples, B
    samples, pairs) of everything measured so far."""
    if saturated:
        note = "client saturated: these figures describe the client, not the endpoint"
        return [not_gated(m, note, []) for m in metrics], 0
    verdicts: dict[str, Verdict] = {}
    for metric in metrics:
        if metric == ERROR_RATE:
            failed = sum(1 for s in b_samples if not s.ok)
            a_rate = sum(1 for s in a.result.samples if not s.ok) / max(1, len(a.result.samples))
            verdicts[metric] = gate_error_rate(failed, len(b_samples), [a_rate])
        elif metric not in METRICS:
            verdicts[metric] = not_gated(metric, "not gated in A/B mode", [])
        elif not metric_values(b_samples, metric):
            verdicts[metric] = not_gated(metric, "not reported by this endpoint", [])
        else:
            verdicts[metric] = gate_paired(
                metric,
                paired(a.result.samples, b_samples, a.pairs, metric),
                higher_is_better=METRICS[metric].higher_is_better,
                tolerance=tolerance_for(metric, global_tolerance, overrides),
                policy=policy,
            )
    flagged = [m for m, v in verdicts.items() if v.needs_confirmation and m != ERROR_RATE]
    if not flagged:
        return list(verdicts.values()), 0
    before = len(a.pairs)
    all_a, all_b, all_pairs = confirm()
    for metric in flagged:
        verdicts[metric] = confirm_paired(
            verdicts[metric],
            paired(all_a, all_b, all_pairs, metric),
            higher_is_better=METRICS[metric].higher_is_better,
            tolerance=tolerance_for(metric, global_tolerance, overrides),
            policy=policy,
        )
    return list(verdicts.values()), len(all_pairs) - before


def request_config(request: Mapping[str, Any]) -> dict[str, Any]:
    """A request's configuration as recorded: every field but the messages (the prompt is beside it)."""
    return {key: value for key, value in request.items() if key != "messages"}


def scenario_entry(
    a: ABRecord, *, b_model: str | None, b_base_url: str | None, b_request: Mapping[str, Any]
) -> ABScenarioDoc:
    """The ``ab`` field of a scenario in the results JSON: both request configurations, A's samples
    (B's are the scenario's own ``samples``) and the blocks that pair them."""
    return {
        "design": DESIGN,
        "blocks": len(a.pairs),
        "seed": a.seed,
        "pairs": [list(pair) for pair in a.pairs],
        "a": {
            "model": a.model,
            "base_url": a.base_url,
            "scenario_source": a.scenario.source,
            "prompt": a.scenario.prompt_text,
            "request": request_config(a.request),
            "samples": [s.to_json() for s in a.result.samples],
            "summary": summaries(a.result.samples),
            "aggregate": a.aggregate,
        },
        "b": {"model": b_model, "base_url": b_base_url, "request": request_config(b_request)},
    }


def run_entry(side: ABSide, blocks: int) -> ABRunDoc:
    """The top-level ``ab`` field: what A was (in the options' words) and how many blocks ran."""
    return {
        "design": DESIGN,
        "blocks": blocks,
        "seed": side.seed,
        "a": {
            "scenarios_file": None if side.scenarios_file is None else str(side.scenarios_file),
            "model": side.model,
            "base_url": None if side.base_url is None else strip_credentials(side.base_url),
            "set": dict(side.request),
        },
        "describe": side.describe(),
    }
