"""The cause line next to an e2e regression (pure): reasoning length vs token speed, from samples."""

from __future__ import annotations

import random

from pytest_cerebras_perf.baselines import BaselineRun, ScenarioBaseline
from pytest_cerebras_perf.cause import e2e_cause
from pytest_cerebras_perf.gate import Kind, Verdict
from pytest_cerebras_perf.metrics import METRICS, Sample, Timing, Usage, metric_values

TTFT_NS = 100_000_000
CONTENT = 150


def sample(rng: random.Random, reasoning_mean: float, tps: float) -> Sample:
    reasoning = max(1, round(rng.lognormvariate(0, 0.3) * reasoning_mean))
    tokens = reasoning + CONTENT
    speed = tps * rng.lognormvariate(0, 0.02)
    end = TTFT_NS + round((tokens - 1) / speed * 1e9)
    timing = Timing(t0_ns=0, first_event_ns=1, first_token_ns=TTFT_NS, end_ns=end, first_content_ns=TTFT_NS + 1)
    return Sample(ok=True, timing=timing, usage=Usage(10, tokens, tokens + 10, reasoning_tokens=reasoning))


def samples(seed: int, reasoning_mean: float, tps: float, n: int) -> list[Sample]:
    rng = random.Random(seed)
    return [sample(rng, reasoning_mean, tps) for _ in range(n)]


def baseline(reasoning_mean: float = 400, tps: float = 3000) -> ScenarioBaseline:
    runs = tuple(
        BaselineRun(
            run_id=str(seed),
            accepted="2026-10-01T00:00:00Z",
            commit=None,
            iterations=10,
            samples={m: metric_values(samples(seed, reasoning_mean, tps, 10), m) for m in METRICS},
            error_rate=0.0,
        )
        for seed in range(3)
    )
    return ScenarioBaseline(runs=runs, tolerances={})


def verdict(kind: Kind) -> Verdict:
    return Verdict(metric="e2e", verdict=kind, higher_is_better=False, tolerance=0.1, n=10, m=30, stage=2)


def test_longer_reasoning_at_the_same_speed_is_blamed_on_reasoning_length() -> None:
    line = e2e_cause([verdict("regression")], samples(10, 800, 3000, 10), baseline(), keep_runs=3)
    assert line is not None and line.startswith("e2e cause: reasoning length moved (")
    assert "token speed p50" in line and "did not move)" in line


def test_slower_tokens_with_the_same_reasoning_are_blamed_on_token_speed() -> None:
    line = e2e_cause([verdict("regression")], samples(10, 400, 2000, 10), baseline(), keep_runs=3)
    assert line is not None and line.startswith("e2e cause: token speed moved (")
    assert "reasoning tokens p50" in line


def test_both_and_neither() -> None:
    both = e2e_cause([verdict("regression")], samples(10, 800, 2000, 10), baseline(), keep_runs=3)
    assert both is not None and both.startswith("e2e cause: both reasoning length and token speed moved")
    neither = e2e_cause([verdict("regression")], samples(10, 400, 3000, 10), baseline(), keep_runs=3)
    assert neither is not None and neither.startswith("e2e cause: neither reasoning length nor token speed moved")


def test_no_line_without_an_e2e_regression_or_a_baseline() -> None:
    current = samples(10, 800, 3000, 10)
    assert e2e_cause([verdict("pass")], current, baseline(), keep_runs=3) is None
    assert e2e_cause([verdict("regression")], current, None, keep_runs=3) is None
