"""Our timestamps against the emulator's ground-truth log: the harness must time the endpoint, not
itself. Client (``perf_counter_ns``) and emulator (``monotonic_ns``) read one clock, CLOCK_MONOTONIC
on Linux, so their stamps compare directly. benchmarks/harness_fidelity.py gives the figures; these tests
check the properties that must hold whatever the machine's speed."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, aggregate, run_measured, warm
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
API_KEY = "fidelity-test-key"
TTFT = 0.05
PROFILE = {
    "ttft_base": TTFT,
    "prompt_tps": 1e12,
    "decode_tps": 2000.0,
    "queue_time": 0.0,
    "jitter_sigma": 0.0,
    "default_output_tokens": 64,
}
REQUEST = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 64}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.start("fast", api_key=API_KEY, overrides={**load_profile("fast").to_dict(), **PROFILE})
        yield process


def measure(emulator: EmulatorProcess, plan: LoadPlan) -> tuple[LoadResult, dict[str, dict[str, Any]], int]:
    """Samples, the truth of exactly those requests, and TCP connections opened during the window."""
    endpoint = Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")

    async def go() -> tuple[LoadResult, int]:
        policy = RetryPolicy(retries=0)
        async with Harness(endpoint, pool_size=plan.concurrency, timeout=30.0, policy=policy) as harness:
            await warm(harness, MODEL, REQUEST, plan)
            emulator.clear_truth()
            before = emulator.stats()["connections"]
            result = await run_measured(harness, MODEL, REQUEST, plan, LoadResult())
            return result, emulator.stats()["connections"] - before

    result, opened = asyncio.run(go())
    return result, {record["request_id"]: record for record in emulator.truth()}, opened


@pytest.fixture(scope="module")
def run_at_8(emulator: EmulatorProcess) -> tuple[LoadResult, dict[str, dict[str, Any]], int]:
    return measure(emulator, LoadPlan(iterations=3, warmup=1, concurrency=8))


def test_every_sample_is_one_request_the_emulator_served(
    run_at_8: tuple[LoadResult, dict[str, dict[str, Any]], int],
) -> None:
    result, truth, _ = run_at_8
    assert len(result.samples) == 24 and all(s.ok for s in result.samples)
    assert sorted(truth) == sorted(s.request_id for s in result.samples)
    for sample in result.samples:
        assert sample.completion_tokens == truth[sample.request_id]["completion_tokens"] == 64


def test_client_timestamps_bracket_the_servers(run_at_8: tuple[LoadResult, dict[str, dict[str, Any]], int]) -> None:
    """t0 before the request reaches the server; the first token and the end read no earlier than the
    server's model made them due (it writes at or after that instant; its stamps of the writes come
    after the write, so a fast reader may beat those). A t0 taken after sending, or a stamp of the
    wrong event (the role frame arrives 50 ms before the first token), breaks this."""
    result, truth, _ = run_at_8
    for sample in result.samples:
        record, timing = truth[sample.request_id], sample.timing
        assert timing is not None and timing.first_token_ns is not None
        assert timing.t0_ns < record["arrival_ns"]
        assert timing.first_token_ns >= record["first_token_due_ns"]
        assert timing.end_ns >= record["last_token_due_ns"]


def test_ttft_and_e2e_errors_are_small_next_to_what_they_measure(
    run_at_8: tuple[LoadResult, dict[str, dict[str, Any]], int],
) -> None:
    result, truth, _ = run_at_8
    ttft_errors, e2e_errors = [], []
    for sample in result.samples:
        record, timing = truth[sample.request_id], sample.timing
        assert timing is not None and timing.first_token_ns is not None
        server_ttft = record["first_token_ns"] - record["arrival_ns"]
        server_e2e = record["last_token_ns"] - record["arrival_ns"]
        ttft_errors.append((timing.first_token_ns - timing.t0_ns - server_ttft) / server_ttft)
        e2e_errors.append((timing.end_ns - timing.t0_ns - server_e2e) / server_e2e)
    assert statistics.median(ttft_errors) < 0.05
    assert statistics.median(e2e_errors) < 0.05


def test_aggregate_throughput_matches_the_truth(run_at_8: tuple[LoadResult, dict[str, dict[str, Any]], int]) -> None:
    result, truth, _ = run_at_8
    records = list(truth.values())
    window = max(r["last_token_ns"] for r in records) - min(r["arrival_ns"] for r in records)
    true_tps = sum(r["completion_tokens"] for r in records) / (window / 1e9)
    assert aggregate(result, 0.010)["aggregate_output_tps"] == pytest.approx(true_tps, rel=0.03)


def test_measured_window_reuses_the_warm_connections(
    run_at_8: tuple[LoadResult, dict[str, dict[str, Any]], int],
) -> None:
    """A TCP handshake inside a TTFT would bias it: warmup opens them all, the window opens none."""
    _, _, opened = run_at_8
    assert opened == 0
