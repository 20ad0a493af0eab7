"""Load generation against a real emulator process through the real SDK: sweeps, the client's
self-check and Poisson arrivals."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from present import present

from pytest_cerebras_perf import load
from pytest_cerebras_perf.baselines import BaselineRun, ScenarioBaseline
from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.gate import GatePolicy
from pytest_cerebras_perf.gating import gate_run
from pytest_cerebras_perf.load import (
    Harness,
    LoadPlan,
    LoadResult,
    Outcome,
    aggregate,
    poisson_schedule,
    run_measured,
    warm,
)
from pytest_cerebras_perf.measure import RawStream
from pytest_cerebras_perf.metrics import metric_values
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
API_KEY = "load-test-key"
MAX_CLIENT_LAG = 0.010
NO_RETRIES = RetryPolicy(retries=0)
# ~30 ms requests: long enough for the lag probe (every 5 ms) to see the window, short for the suite.
STEADY = {"ttft_base": 0.01, "decode_tps": 2000.0, "default_output_tokens": 40, "jitter_sigma": 0.0}


@pytest.fixture
def endpoint(emulator: EmulatorProcess) -> Iterator[Endpoint]:
    emulator.set_profile(load_profile("fast").to_dict())
    emulator.reset()
    yield Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")


def measure(
    endpoint: Endpoint,
    plan: LoadPlan,
    request: Mapping[str, Any],
    *,
    beside: Any = None,
    policy: RetryPolicy = NO_RETRIES,
) -> LoadResult:
    """Warm up and measure ``plan`` with a fresh harness; ``beside`` runs on the same loop meanwhile."""

    async def go() -> LoadResult:
        async with Harness(endpoint, pool_size=plan.concurrency, timeout=30.0, policy=policy) as harness:
            await warm(harness, MODEL, request, plan)
            stop = asyncio.Event()
            extra = asyncio.create_task(beside(stop)) if beside else None
            result = await run_measured(harness, MODEL, request, plan, LoadResult())
            stop.set()
            if extra is not None:
                await extra
            return result

    return asyncio.run(go())


def request_for(tokens: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": tokens}


def test_concurrency_sweep_on_a_capacity_limited_endpoint(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """2,000 tok/s per stream, 8,000 shared: one stream runs at full speed, 4 fill the capacity,
    16 share it, so per-request speed falls and aggregate speed rises (to the cap)."""
    emulator.set_profile(load_profile("capacity-limited").to_dict())
    per_request, aggregate_tps = [], []
    for concurrency in (1, 4, 16):
        result = measure(endpoint, LoadPlan(iterations=3, warmup=1, concurrency=concurrency), request_for(160))
        assert len(result.samples) == 3 * concurrency and all(s.ok for s in result.samples)
        per_request.append(statistics.median(metric_values(result.samples, "output_tps")))
        aggregate_tps.append(present(aggregate(result, MAX_CLIENT_LAG)["aggregate_output_tps"]))
    one, four, sixteen = per_request
    assert four <= one * 1.15 and sixteen < one / 2
    assert sixteen < four / 2
    assert aggregate_tps[1] > 2 * aggregate_tps[0]
    assert aggregate_tps[2] > aggregate_tps[1] * 0.9 and aggregate_tps[2] > 3 * aggregate_tps[0]


async def _hog_the_loop(stop: asyncio.Event) -> None:
    """What a client doing CPU work on its own event loop looks like: 50 ms stalls."""
    while not stop.is_set():
        time.sleep(0.05)
        await asyncio.sleep(0.005)


def _baseline_twice_as_fast(result: LoadResult, metrics: list[str]) -> ScenarioBaseline:
    samples = {m: [v / 2 for v in metric_values(result.samples, m)] for m in metrics}
    runs = tuple(
        BaselineRun(f"run{i}", "2026-01-01T00:00:00+00:00", None, len(result.samples), samples, 0.0) for i in range(3)
    )
    return ScenarioBaseline(runs=runs, tolerances={})


def test_a_client_that_blocks_its_loop_is_flagged_and_not_gated(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    emulator.set_profile(STEADY)
    plan = LoadPlan(iterations=6, warmup=1, concurrency=2)
    healthy = aggregate(measure(endpoint, plan, request_for(40)), MAX_CLIENT_LAG)
    blocked_result = measure(endpoint, plan, request_for(40), beside=_hog_the_loop)
    blocked = aggregate(blocked_result, MAX_CLIENT_LAG)
    assert blocked["client"]["saturated"] is True
    assert blocked["client"]["loop_lag_p99"] >= 0.04  # the probe saw the 50 ms stalls
    assert healthy["client"]["loop_lag_p99"] < blocked["client"]["loop_lag_p99"] / 3
    assert aggregate(measure(endpoint, plan, request_for(40)), 0.025)["client"]["saturated"] is False

    metrics = ["ttft", "e2e"]
    baseline = _baseline_twice_as_fast(blocked_result, metrics)

    def gate(saturated: bool) -> list[str]:
        verdicts, _ = gate_run(
            blocked_result.samples,
            baseline,
            metrics=metrics,
            global_tolerance=0.10,
            overrides={},
            policy=GatePolicy(alpha_suite=0.01, tau_prior=0.05),
            keep_runs=3,
            saturated=saturated,
            confirm_samples=lambda: blocked_result.samples,
        )
        return [v.verdict for v in verdicts]

    assert "regression" in gate(saturated=False)  # the same figures would fail a gate...
    assert gate(saturated=bool(blocked["client"]["saturated"])) == ["not-gated", "not-gated"]  # ...but are not gated


def test_healthy_closed_loop_keeps_its_slots_busy(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """Slots whose streams end together queue for the SDK's ~1.4 ms request builds: with 0.1 s
    requests that is a few percent of their time, not saturation."""
    emulator.set_profile({**STEADY, "ttft_base": 0.1})
    result = measure(endpoint, LoadPlan(iterations=4, warmup=1, concurrency=8), request_for(40))
    figures = aggregate(result, MAX_CLIENT_LAG)
    assert figures["requests"] == figures["ok"] == 32
    assert 0 <= figures["client"]["dispatch_share"] < 0.10
    assert present(figures.get("mean_in_flight")) > 8 * 0.7
    assert present(aggregate(result, MAX_CLIENT_LAG, requested=8).get("achieved_concurrency")) > 8 * 0.7


def test_streams_that_fail_midway_are_retried_outside_the_timer(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """An error event inside a 200 stream and a connection dropped mid-stream are both retried; the
    sample times only the attempt that succeeded, not the failed one nor the back-off."""
    emulator.set_profile(STEADY)
    # warmup takes requests 1-2; 4 and 7 are measured ones
    emulator.set_faults(
        [
            {"kind": "stream_error", "at": [4], "after_chunks": 5},
            {"kind": "drop", "at": [7], "after_chunks": 5},
        ]
    )
    policy = RetryPolicy(retries=2, backoff_initial=0.1, backoff_max=0.2)
    result = measure(endpoint, LoadPlan(iterations=5, warmup=1, concurrency=2), request_for(40), policy=policy)
    assert len(result.samples) == 10 and all(s.ok for s in result.samples)
    retried = [s for s in result.samples if s.retries]
    assert sum(s.retries for s in result.samples) == 2 and retried
    clean_e2e = [s.e2e for s in result.samples if not s.retries and s.e2e is not None]
    assert all(s.e2e is not None and s.e2e < 1.5 * max(clean_e2e) for s in retried)


def _finished(index: int) -> Outcome:
    usage = b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"b"}}],' + usage + b"}\n\ndata: [DONE]\n\n"
    )
    raw = RawStream(f"r{index}", handed_ns=10, t0_ns=20, end_ns=90, chunks=[(50, body)], headers={})
    return Outcome(retries=0, raw=raw)


def test_finished_streams_are_parsed_when_the_window_ends_or_the_budget_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = _finished(0).raw
    assert raw is not None
    size = raw.size
    monkeypatch.setattr(load, "PARSE_BUDGET_BYTES", 2 * size)
    result = LoadResult()
    for index in range(2):
        result.add(_finished(index), 0.0)
    assert result.samples == [] and len(result.unparsed) == 2  # nothing parsed while streams run
    result.add(_finished(2), 0.0)
    assert [s.request_id for s in result.samples] == ["r0"]  # over budget: the oldest is parsed now
    result.parse()
    assert [s.request_id for s in result.samples] == ["r0", "r1", "r2"] and not result.unparsed
    assert all(s.ok and s.completion_tokens == 2 and s.ttft == 30e-9 for s in result.samples)


def test_poisson_schedule_is_seeded() -> None:
    assert poisson_schedule(5.0, 50, seed=3) == poisson_schedule(5.0, 50, seed=3)
    assert poisson_schedule(5.0, 50, seed=3) != poisson_schedule(5.0, 50, seed=4)


@pytest.mark.parametrize("rate", [2.0, 40.0])
def test_poisson_schedule_has_the_rate_and_exponential_gaps(rate: float) -> None:
    offsets = poisson_schedule(rate, 2000, seed=11)
    gaps = [b - a for a, b in zip([0.0, *offsets], offsets, strict=False)]
    assert all(g > 0 for g in gaps)
    assert len(offsets) / offsets[-1] == pytest.approx(rate, rel=0.05)
    assert statistics.pstdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, abs=0.1)  # exponential: CV 1
    # memoryless: as many gaps below the median of an exponential (ln 2 / rate) as above it
    below = sum(1 for g in gaps if g < 0.6931 / rate)
    assert below / len(gaps) == pytest.approx(0.5, abs=0.05)


def test_open_loop_follows_the_seeded_schedule_and_counts_queueing(
    emulator: EmulatorProcess, endpoint: Endpoint
) -> None:
    emulator.set_profile(STEADY)
    plan = LoadPlan(iterations=10, warmup=1, concurrency=2, request_rate=50.0, seed=7)
    result = measure(endpoint, plan, request_for(40))
    assert len(result.samples) == plan.requests and all(s.ok for s in result.samples)
    for sample in result.samples:
        assert sample.latency_from_schedule is not None and sample.e2e is not None
        assert sample.latency_from_schedule >= sample.e2e
    scheduled = sorted(s.scheduled_ns for s in result.samples if s.scheduled_ns is not None)
    expected = poisson_schedule(plan.request_rate or 0.0, plan.requests, plan.seed)
    for got, want in zip(scheduled, expected, strict=True):
        assert (got - scheduled[0]) / 1e9 == pytest.approx(want - expected[0], abs=1e-6)


def test_reserved_tokens_counts_prompt_and_max_completion() -> None:
    from pytest_cerebras_perf.load import reserved_tokens

    short = reserved_tokens({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 100})
    long = reserved_tokens({"messages": [{"role": "user", "content": "x" * 10_000}], "max_completion_tokens": 100})
    assert 100 < short < 130 and long - short == 10_000 // 4
