"""Reasoning models against the emulator's ground truth: TTFT (first token of any kind) and TTFO
(first content token) match the server's first reasoning and first content writes, reasoning tokens
match per request, and ``reasoning_effort`` / ``service_tier`` / ``disable_reasoning`` reach the
server and change what it does as configured."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cerebras.cloud.sdk import BadRequestError, Cerebras
from cerebras.cloud.sdk.types.chat.completion_create_params import MessageUserMessageRequest
from present import present

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, run_measured, warm
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
API_KEY = "reasoning-test-key"
MEANS = {"low": 20.0, "medium": 60.0, "high": 200.0}
PROFILE = {
    "ttft_base": 0.02,
    "prompt_tps": 1e12,
    "decode_tps": 10_000.0,
    "queue_time": 0.0,
    "jitter_sigma": 0.0,
    "default_output_tokens": 16,
    "reasoning_tokens": MEANS,
    "default_reasoning_effort": "medium",
    "reasoning_sigma": 0.3,
}
MESSAGES: list[MessageUserMessageRequest] = [{"role": "user", "content": "Why is the sky blue?"}]
TOLERANCE_S = 0.003  # acceptance: medians within 3 ms of the ground truth


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.start("fast", api_key=API_KEY, overrides={**load_profile("fast").to_dict(), **PROFILE})
        yield process


def measure(
    emulator: EmulatorProcess, request: Mapping[str, Any], iterations: int = 16, concurrency: int = 1
) -> tuple[LoadResult, dict[str, dict[str, Any]]]:
    """The samples of one measured window and the emulator's truth for exactly those requests; one
    request at a time, so a busy shared machine delays the client's reads as little as it can."""
    endpoint = Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")
    plan = LoadPlan(iterations=iterations, warmup=1, concurrency=concurrency)

    async def go() -> LoadResult:
        async with Harness(endpoint, pool_size=concurrency, timeout=30.0, policy=RetryPolicy(retries=0)) as harness:
            await warm(harness, MODEL, request, plan)
            emulator.clear_truth()
            return await run_measured(harness, MODEL, request, plan, LoadResult())

    result = asyncio.run(go())
    result.parse()
    return result, {record["request_id"]: record for record in emulator.truth()}


@pytest.fixture(scope="module")
def high(emulator: EmulatorProcess) -> tuple[LoadResult, dict[str, dict[str, Any]]]:
    return measure(emulator, {"messages": MESSAGES, "reasoning_effort": "high", "service_tier": "priority"})


@pytest.fixture(scope="module")
def low(emulator: EmulatorProcess) -> tuple[LoadResult, dict[str, dict[str, Any]]]:
    return measure(emulator, {"messages": MESSAGES, "reasoning_effort": "low"})


def test_ttft_and_ttfo_medians_match_the_first_reasoning_and_content_tokens(
    high: tuple[LoadResult, dict[str, dict[str, Any]]],
) -> None:
    result, truth = high
    assert len(result.samples) == 16 and all(s.ok for s in result.samples)
    ttft_errors, ttfo_errors = [], []
    for sample in result.samples:
        record = truth[present(sample.request_id)]
        assert sample.ttft is not None and sample.ttfo is not None and sample.ttfo > sample.ttft
        ttft_errors.append(sample.ttft - (record["first_reasoning_token_ns"] - record["arrival_ns"]) / 1e9)
        ttfo_errors.append(sample.ttfo - (record["first_content_token_ns"] - record["arrival_ns"]) / 1e9)
    assert abs(statistics.median(ttft_errors)) < TOLERANCE_S, ttft_errors
    assert abs(statistics.median(ttfo_errors)) < TOLERANCE_S, ttfo_errors


def test_reasoning_tokens_equal_the_truth_per_request(high: tuple[LoadResult, dict[str, dict[str, Any]]]) -> None:
    result, truth = high
    for sample in result.samples:
        record = truth[present(sample.request_id)]
        assert sample.usage is not None and not sample.usage.reasoning_estimated
        assert sample.reasoning_tokens == record["reasoning_tokens"] > 0
        assert sample.content_tokens == record["completion_tokens"] - record["reasoning_tokens"] == 16
    assert len({s.reasoning_tokens for s in result.samples}) > 1  # drawn per request, not a constant


def test_effort_reaches_the_server_and_moves_the_distribution_as_configured(
    high: tuple[LoadResult, dict[str, dict[str, Any]]], low: tuple[LoadResult, dict[str, dict[str, Any]]]
) -> None:
    """The profile's default is medium, so the truth saying low / high proves the body carried the field."""
    medians = {}
    for effort, (result, truth) in (("high", high), ("low", low)):
        assert {record["reasoning_effort"] for record in truth.values()} == {effort}
        tokens = [s.reasoning_tokens for s in result.samples if s.reasoning_tokens is not None]
        medians[effort] = statistics.median(tokens)
        assert medians[effort] == pytest.approx(MEANS[effort], rel=0.4)  # log-normal, sigma 0.3, n = 16
    assert medians["high"] > 4 * medians["low"]


def test_response_fields_are_recorded_per_sample(high: tuple[LoadResult, dict[str, dict[str, Any]]]) -> None:
    result, truth = high
    assert {record["service_tier"] for record in truth.values()} == {"priority"}
    for sample in result.samples:
        assert sample.response.service_tier == "priority"
        assert sample.response.system_fingerprint is not None and sample.response.system_fingerprint.startswith("fp_")
        assert sample.response.finish_reason == "stop"
        assert sample.usage is not None and sample.usage.completion_tokens_details is not None
        assert sample.usage.completion_tokens_details["reasoning_tokens"] == sample.reasoning_tokens


def test_disabled_reasoning_makes_ttfo_the_first_token(emulator: EmulatorProcess) -> None:
    result, truth = measure(emulator, {"messages": MESSAGES, "disable_reasoning": True}, iterations=3, concurrency=1)
    for sample in result.samples:
        assert sample.reasoning_tokens == 0 and truth[present(sample.request_id)]["first_reasoning_token_ns"] is None
        assert sample.ttfo == sample.ttft


def test_non_streaming_reply_carries_reasoning_and_a_float_created(emulator: EmulatorProcess) -> None:
    client = Cerebras(api_key=API_KEY, base_url=emulator.url, max_retries=0, warm_tcp_connection=False)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=False, reasoning_effort="low"
    )
    body = raw.http_response.json()
    message = body["choices"][0]["message"]
    reasoning = body["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0 and message["reasoning"] and message["content"]
    assert body["usage"]["completion_tokens"] == reasoning + 16
    assert isinstance(body["time_info"]["created"], float) and isinstance(body["created"], int)


def test_an_effort_the_model_lacks_is_a_400_naming_the_field(emulator: EmulatorProcess) -> None:
    client = Cerebras(api_key=API_KEY, base_url=emulator.url, max_retries=0, warm_tcp_connection=False)
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, reasoning_effort="none")
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "reasoning_effort"
