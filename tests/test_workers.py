"""Several client processes against a real emulator: no sample lost or counted twice when merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import LoadPlan, LoadResult, aggregate, poisson_schedule
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import MIN_ACHIEVED_CONCURRENCY, Secret
from pytest_cerebras_perf.target import Endpoint
from pytest_cerebras_perf.workers import PoolSpec, WorkerPool, split

MODEL = "llama-3.3-70b"
API_KEY = "workers-test-key"
REQUEST = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 20}
STEADY = {"ttft_base": 0.01, "decode_tps": 2000.0, "jitter_sigma": 0.0}


@pytest.fixture(scope="module")
def pool(emulator: EmulatorProcess) -> Iterator[WorkerPool]:
    endpoint = Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")
    spec = PoolSpec(
        endpoint,
        max_concurrency=5,
        timeout=30.0,
        policy=RetryPolicy(retries=0),
        max_client_lag=0.010,
        min_achieved=MIN_ACHIEVED_CONCURRENCY,
    )
    workers = WorkerPool(spec, workers=2)
    yield workers
    workers.close()


@pytest.fixture(autouse=True)
def fresh(emulator: EmulatorProcess) -> None:
    emulator.set_profile({**load_profile("fast").to_dict(), **STEADY})
    emulator.reset()


def run(pool: WorkerPool, emulator: EmulatorProcess, plan: LoadPlan) -> tuple[LoadResult, list[dict[str, Any]]]:
    """Warm, forget the warmup's truth, measure: the truth log then holds exactly the measured requests."""
    pool.warm(MODEL, REQUEST, plan)
    emulator.clear_truth()
    result = pool.run(MODEL, REQUEST, plan)
    return result, emulator.truth()


def test_split_is_as_even_as_possible() -> None:
    assert split(5, 2) == [3, 2]
    assert split(1, 3) == [1, 0, 0]
    assert sum(split(128, 3)) == 128


def test_two_workers_merge_every_sample_once(pool: WorkerPool, emulator: EmulatorProcess) -> None:
    plan = LoadPlan(iterations=4, warmup=1, concurrency=5)
    result, truth = run(pool, emulator, plan)
    assert len(result.samples) == plan.requests == 20 and all(s.ok for s in result.samples)
    ids = [s.request_id for s in result.samples]
    assert len(set(ids)) == len(ids)
    seen = Counter(record["request_id"] for record in truth)
    assert all(seen[request_id] == 1 for request_id in ids)
    assert sum(seen.values()) == len(ids)  # nothing the workers sent is missing from the result
    assert result.loop_lag and len(result.dispatch_lag) == 20  # both workers' self-checks were merged
    assert result.cpu_seconds > 0


def test_errors_are_counted_not_lost(pool: WorkerPool, emulator: EmulatorProcess) -> None:
    emulator.set_faults([{"kind": "http_500", "probability": 0.3}])
    plan = LoadPlan(iterations=4, warmup=1, concurrency=5)
    result, truth = run(pool, emulator, plan)
    figures = aggregate(result, 0.010)
    errors = [s for s in result.samples if not s.ok]
    assert figures["ok"] + figures["errors"] == plan.requests == len(result.samples)
    assert errors and all(s.error is not None and s.error.status == 500 and s.retries == 0 for s in errors)
    assert figures["errors"] == sum(1 for record in truth if record["outcome"] == "fault")
    ok_ids = Counter(s.request_id for s in result.samples if s.ok)
    ok_truth = Counter(record["request_id"] for record in truth if record["outcome"] == "ok")
    assert ok_ids == ok_truth


def test_open_loop_rate_is_shared_between_workers(pool: WorkerPool, emulator: EmulatorProcess) -> None:
    """Each worker sends its share of the rate: together they send at the requested rate, not N times it."""
    plan = LoadPlan(iterations=8, warmup=1, concurrency=5, request_rate=40.0, seed=2)
    result, _ = run(pool, emulator, plan)
    assert len(result.samples) == plan.requests and all(s.ok for s in result.samples)
    scheduled = sorted(s.scheduled_ns for s in result.samples if s.scheduled_ns is not None)
    span = (scheduled[-1] - scheduled[0]) / 1e9
    schedules = [
        poisson_schedule(40.0 * share / 5, 8 * share, plan.seed * 1000 + i) for i, share in enumerate(split(5, 2))
    ]
    expected = max(s[-1] for s in schedules) - min(s[0] for s in schedules)
    assert span == pytest.approx(expected, rel=0.1, abs=0.02)
    for sample in result.samples:
        assert sample.latency_from_schedule is not None and sample.e2e is not None
        assert sample.latency_from_schedule >= sample.e2e
