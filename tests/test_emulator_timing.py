"""Timing properties of the emulator: calibration, clocks, keep-alive, continuous batching.

These assert properties of the emulator itself, measured server-side from its ground truth (or,
where the client view matters, with generous margins); a noisy machine gets one re-measurement.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cerebras.cloud.sdk import AsyncCerebras, AsyncStream, Cerebras, DefaultAioHttpClient
from cerebras.cloud.sdk.types.chat.completion_create_params import MessageUserMessageRequest

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.emulator.timer import new_event_loop

MODEL = "llama-3.3-70b"
MESSAGES: list[MessageUserMessageRequest] = [
    {"role": "user", "content": "Explain continuous batching in a thousand words."}
]
CALIBRATED = "cerebras-llama-3.3-70b"


@pytest.fixture(scope="module")
def calibrated() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.start(CALIBRATED)
        yield process


@pytest.fixture(scope="module")
def fast() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.start("fast")
        yield process


def _measure_twice(
    measure: Callable[[], dict[str, float]], good: Callable[[dict[str, float]], bool]
) -> dict[str, float]:
    """Measure; on a miss measure once more (a 2-core shared machine has hiccups), return the last."""
    result = measure()
    return result if good(result) else measure()


def _relative_error(value: float, reference: float) -> float:
    return abs(value - reference) / reference


def _stream_with_client_times(client: Cerebras, tokens: int) -> tuple[float, float]:
    """Client arrival times (perf_counter) of the first and last content events of one drained stream."""
    content_times = []
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, min_completion_tokens=tokens, max_completion_tokens=tokens
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
                content_times.append(time.perf_counter())
    return content_times[0], content_times[-1]


def _calibration_run(emulator: EmulatorProcess, requests: int = 3, tokens: int = 1000) -> dict[str, float]:
    emulator.clear_truth()
    client_decode = []
    with Cerebras(api_key="unused", base_url=emulator.url, max_retries=0) as client:
        for _ in range(requests):
            first, last = _stream_with_client_times(client, tokens)
            client_decode.append(last - first)
    records = emulator.truth()
    completion_errors, total_errors, ttft_errors, rates, client_errors = [], [], [], [], []
    for record, seen_by_client in zip(records, client_decode, strict=True):
        info: dict[str, Any] = record["time_info"]
        truth_decode = (record["last_token_ns"] - record["first_token_ns"]) / 1e9
        truth_ttft = (record["first_token_ns"] - record["queued_ns"]) / 1e9
        completion_errors.append(_relative_error(info["completion_time"], truth_decode))
        total_errors.append(_relative_error(info["total_time"], (record["end_ns"] - record["arrival_ns"]) / 1e9))
        ttft_errors.append(_relative_error(info["queue_time"] + info["prompt_time"], truth_ttft))
        rates.append((record["completion_tokens"] - 1) / truth_decode)
        client_errors.append(_relative_error(seen_by_client, info["completion_time"]))
    return {
        "completion": max(completion_errors),
        "total": max(total_errors),
        "ttft": max(ttft_errors),
        "rate": statistics.median(rates),
        "client": statistics.median(client_errors),
        "completion_tokens": min(record["completion_tokens"] for record in records),
    }


def test_calibrated_profile_reports_what_it_did_and_decodes_at_its_rate(calibrated: EmulatorProcess) -> None:
    # this start's session drift slows (or speeds) every delay by one factor, recorded by the emulator
    target = load_profile(CALIBRATED).decode_tps / calibrated.drift()["factor"]

    def good(result: dict[str, float]) -> bool:
        return (
            max(result["completion"], result["total"], result["ttft"], result["client"]) <= 0.02
            and _relative_error(result["rate"], target) <= 0.05
        )

    result = _measure_twice(lambda: _calibration_run(calibrated), good)
    assert result["completion_tokens"] == 1000
    assert result["completion"] <= 0.02 and result["total"] <= 0.02 and result["ttft"] <= 0.02
    assert result["client"] <= 0.02, "the client saw a different decode time than time_info reports"
    assert _relative_error(result["rate"], target) <= 0.05


def test_calibrated_profile_short_prompt_ttft_matches_published_range(calibrated: EmulatorProcess) -> None:
    calibrated.clear_truth()
    with Cerebras(api_key="unused", base_url=calibrated.url, max_retries=0) as client:
        for _ in range(5):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_completion_tokens=5)
    # without this start's drift factor: the published range is the endpoint's typical day
    ttfts = [(r["first_token_ns"] - r["arrival_ns"]) / 1e9 / r["drift_factor"] for r in calibrated.truth()]
    assert 0.12 <= statistics.median(ttfts) <= 0.19


def test_server_and_client_timestamps_share_one_clock(fast: EmulatorProcess) -> None:
    assert time.get_clock_info("perf_counter").implementation == time.get_clock_info("monotonic").implementation
    for _ in range(5):
        before = time.perf_counter_ns()
        offset = fast.clock_offset_ns()
        round_trip = time.perf_counter_ns() - before
        assert abs(offset) <= round_trip  # the server read its clock between our two readings


def _connections_used(emulator: EmulatorProcess, run: Callable[[Cerebras], None]) -> int:
    before = emulator.stats()["connections"]
    with Cerebras(api_key="unused", base_url=emulator.url, max_retries=0) as client:
        run(client)
    connections: int = emulator.stats()["connections"] - before
    return connections


def test_keep_alive_reuses_one_connection_when_streams_are_drained(fast: EmulatorProcess) -> None:
    def drained(client: Cerebras) -> None:
        for _ in range(4):
            with client.chat.completions.with_streaming_response.create(
                model=MODEL, messages=MESSAGES, stream=True
            ) as response:
                assert sum(1 for _ in response.iter_lines()) > 0

    def sdk_stream(client: Cerebras) -> None:
        for _ in range(4):
            for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
                pass

    assert _connections_used(fast, drained) == 1
    assert _connections_used(fast, sdk_stream) >= 2  # the SDK's Stream closes at [DONE] without draining


def _server_rates(records: list[dict[str, Any]]) -> tuple[float, float]:
    """(median per-stream decode tok/s, aggregate tok/s over the decode window) from ground truth."""
    per_stream = [(r["completion_tokens"] - 4) / ((r["last_token_ns"] - r["first_token_ns"]) / 1e9) for r in records]
    window = (max(r["last_token_ns"] for r in records) - min(r["first_token_ns"] for r in records)) / 1e9
    return statistics.median(per_stream), sum(r["completion_tokens"] for r in records) / window


def test_shared_capacity_slows_each_stream_but_raises_the_aggregate(fast: EmulatorProcess) -> None:
    fast.set_profile(
        {
            "decode_tps": 2000.0,
            "capacity_tps": 8000.0,
            "tokens_per_chunk": 4,
            "default_output_tokens": 400,
            "ttft_base": 0.0,
        }
    )

    async def sweep(concurrency: int) -> tuple[float, float]:
        fast.clear_truth()
        async with AsyncCerebras(
            api_key="unused", base_url=fast.url, max_retries=0, http_client=DefaultAioHttpClient()
        ) as client:

            async def one() -> None:
                stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                assert isinstance(stream, AsyncStream)
                async for _ in stream:
                    pass

            await asyncio.gather(*(one() for _ in range(concurrency)))
        return _server_rates(fast.truth())

    try:
        single_stream, single_aggregate = asyncio.run(sweep(1))
        shared_stream, shared_aggregate = asyncio.run(sweep(8))
    finally:
        fast.set_profile(
            {
                "decode_tps": 50_000.0,
                "capacity_tps": None,
                "tokens_per_chunk": 1,
                "default_output_tokens": 16,
                "ttft_base": 0.001,
            }
        )
    assert _relative_error(single_stream, 2000) < 0.1
    assert shared_stream < 0.75 * single_stream
    assert shared_aggregate > 2 * single_aggregate
    assert shared_aggregate < 8000 * 1.1


def test_precise_timer_fires_sub_millisecond_sleeps_on_time() -> None:
    async def overshoots() -> list[float]:
        results = []
        for _ in range(60):
            start = time.perf_counter()
            await asyncio.sleep(0.0003)
            results.append(time.perf_counter() - start - 0.0003)
        return results

    loop = new_event_loop()
    try:
        late = loop.run_until_complete(overshoots())
    finally:
        loop.close()
    assert statistics.median(late) < 0.0004  # the stock loop rounds every wait up to a whole millisecond


def test_tokens_arrive_at_their_own_pace_not_in_millisecond_bursts(fast: EmulatorProcess) -> None:
    def measure() -> dict[str, float]:
        arrivals = []
        body = {"model": MODEL, "messages": MESSAGES, "stream": True}
        with httpx.stream("POST", f"{fast.url}/v1/chat/completions", json=body, timeout=10) as response:
            for data in response.iter_raw():
                arrivals.append((time.perf_counter(), data.count(b"data: ")))
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals[5:])]
        return {
            "events_per_read": statistics.mean(events for _, events in arrivals),
            "median_gap": statistics.median(gaps),
        }

    def good(result: dict[str, float]) -> bool:
        return result["events_per_read"] < 1.5 and 0.0003 < result["median_gap"] < 0.0008

    fast.set_profile({"decode_tps": 2000.0, "default_output_tokens": 400})
    try:
        result = _measure_twice(measure, good)
    finally:
        fast.set_profile({"decode_tps": 50_000.0, "default_output_tokens": 16})
    assert result["events_per_read"] < 1.5  # mostly one token per read
    assert 0.0003 < result["median_gap"] < 0.0008  # 0.5 ms per token at 2,000 tok/s
