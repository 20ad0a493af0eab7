"""Every fault kind of the emulator through the whole plugin: what the test does, what the results
file records (retries, error samples), and that no back-off, timeout or pacing wait is ever inside
a latency. End to end through pytest (pytester subprocesses, profile YAML with faults), plus the
ground-truth checks at the Harness level where the emulator's own log is at hand.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
from typing import Any

import aiohttp
import httpx
import pytest
from cerebras.cloud.sdk import APITimeoutError
from perf_sessions import PLUGIN

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, run_measured
from pytest_cerebras_perf.metrics import Sample
from pytest_cerebras_perf.retry import Pacer, RetryPolicy, classify
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
REQUEST: dict[str, Any] = {
    "messages": [{"role": "user", "content": "hi"}],
    "max_completion_tokens": 8,
    "min_completion_tokens": 8,
}
ONE_TEST = """
    import pytest

    @pytest.mark.scenario(name="tiny", prompt="hi", max_completion_tokens=8, min_completion_tokens=8)
    def test_tiny(cerebras_call):
        cerebras_call()
"""
THREE_SCENARIOS = """
scenarios:
  first: {prompt: "hi", max_completion_tokens: 8, min_completion_tokens: 8}
  second: {prompt: "hi", max_completion_tokens: 8, min_completion_tokens: 8}
  third: {prompt: "hi", max_completion_tokens: 8, min_completion_tokens: 8}
"""


def run_plugin(
    pytester: pytest.Pytester, profile: dict[str, Any], *args: str, report: str = "none"
) -> tuple[pytest.RunResult, Any]:
    """One pytest run on an emulator profile (``base: fast`` plus ``profile``); no warmup, so the
    emulator's request numbers are the measured requests' attempts, in order."""
    profile_file = pytester.path / "profile.yaml"
    profile_file.write_text(json.dumps({"base": "fast", **profile}))
    results = pytester.path / "out" / "results.json"
    outcome = pytester.runpytest_inprocess(
        *PLUGIN,
        *("-rs", "--perf-emulator-profile", str(profile_file), "--warmup", "0"),
        *("--perf-json", str(results), "--perf-report", report, "--perf-seed-results", "none"),
        *("--perf-baseline-dir", str(pytester.path / "baselines")),
        *args,
    )
    return outcome, (json.loads(results.read_text()) if results.exists() else None)


def only_scenario(results: Any) -> dict[str, Any]:
    (scenario,) = results["scenarios"]
    return scenario  # type: ignore[no-any-return]


# -- each fault kind, once, survived by a retry -----------------------------------------------
# One run, one scenario per fault kind, in file order. With concurrency 1 and no warmup, scenario k
# makes attempts 4k+1..4k+4: three requests, the second of which fails once and is retried.
RETRIED: dict[str, dict[str, Any]] = {
    "http_500": {"kind": "http_500"},
    "http_503": {"kind": "http_503"},
    "rate_limit_rpm": {"kind": "rate_limit_rpm", "retry_after": 0.3},
    "rate_limit_tpm": {"kind": "rate_limit_tpm", "retry_after": 0.3},
    "stream_error": {"kind": "stream_error", "after_chunks": 3},
    "drop_mid_stream": {"kind": "drop", "after_chunks": 3},
    "drop_before_any_byte": {"kind": "drop"},
    "hang": {"kind": "hang"},
}
# The emulator rounds retry-after up to whole seconds (as HTTP wants): the client waits 1 s.
WAITED = {"rate_limit_rpm": 1.0, "rate_limit_tpm": 1.0, "hang": 0.5}


def scenarios_file(names: list[str]) -> str:
    lines = ["scenarios:"]
    lines += [f"  {name}: {{prompt: hi, max_completion_tokens: 8, min_completion_tokens: 8}}" for name in names]
    return "\n".join(lines) + "\n"


BARE_MARKER_TEST = """
    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call):
        cerebras_call()
"""


def test_each_fault_kind_once_is_retried_and_no_wait_is_inside_a_latency(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=scenarios_file(list(RETRIED)))
    pytester.makepyfile(BARE_MARKER_TEST)
    faults = [{**fault, "at": [4 * k + 2]} for k, fault in enumerate(RETRIED.values())]
    outcome, results = run_plugin(pytester, {"faults": faults}, "--iterations", "3", "--perf-timeout", "0.5")
    outcome.assert_outcomes(passed=len(RETRIED))
    scenarios = {s["name"]: s for s in results["scenarios"]}
    for name in RETRIED:
        samples = scenarios[name]["samples"]
        aggregate = scenarios[name]["aggregate"]
        assert [s["ok"] for s in samples] == [True, True, True], name
        assert [s["retries"] for s in samples] == [0, 1, 0], name  # the 2nd request failed once
        assert (aggregate["retries"], aggregate["errors"]) == (1, 0), name
        # The wait (retry-after, timeout) fell between the first and the last sample: the measured
        # window spans it, yet no sample's latency contains it.
        assert aggregate["window"] >= WAITED.get(name, 0.0), name
        assert max(s["e2e"] for s in samples) < 0.2, name
        assert max(s["ttft"] for s in samples) < 0.2, name


def test_a_slow_first_byte_is_latency_not_a_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ONE_TEST)
    fault = {"kind": "slow_first_byte", "at": [2], "delay": 0.3}
    outcome, results = run_plugin(pytester, {"faults": [fault]}, "--iterations", "3")
    outcome.assert_outcomes(passed=1)
    samples = only_scenario(results)["samples"]
    assert [s["retries"] for s in samples] == [0, 0, 0]
    assert samples[1]["ttfb"] >= 0.3 and samples[1]["ttft"] >= 0.3  # the server was slow: that IS latency
    assert samples[0]["ttft"] < 0.2 and samples[2]["ttft"] < 0.2


# -- faults that outlast the retries ----------------------------------------------------------
# Scenario k: 2 requests x 2 attempts (--perf-retries 1) = attempts 4k+1..4k+4, all faulted.
EXHAUSTED: dict[str, tuple[dict[str, Any], tuple[str, int | None, str | None]]] = {
    "http_500": ({"kind": "http_500"}, ("server_error", 500, "Internal server error")),
    "http_503": ({"kind": "http_503"}, ("server_error", 503, "Service temporarily unavailable, please retry")),
    "stream_error": ({"kind": "stream_error", "after_chunks": 2}, ("stream_error", 500, "Internal server error")),
    "drop_mid_stream": ({"kind": "drop", "after_chunks": 2}, ("connection", None, None)),
    # httpx-aiohttp reports this one as a ConnectTimeout: it is still a connection error, not a timeout
    "drop_before_any_byte": ({"kind": "drop"}, ("connection", None, "Server disconnected")),
    "hang": ({"kind": "hang"}, ("timeout", None, "request timed out")),
}


def test_a_fault_on_every_attempt_fails_the_test_and_keeps_the_error_samples(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=scenarios_file(list(EXHAUSTED)))
    pytester.makepyfile(BARE_MARKER_TEST)
    faults = [{**fault, "at": [4 * k + n for n in (1, 2, 3, 4)]} for k, (fault, _) in enumerate(EXHAUSTED.values())]
    outcome, results = run_plugin(
        pytester, {"faults": faults}, "--iterations", "2", "--perf-retries", "1", "--perf-timeout", "0.3"
    )
    outcome.assert_outcomes(failed=len(EXHAUSTED))
    assert "Traceback" not in outcome.stdout.str()
    assert results["run"]["partial"] is False  # measured to the end: errors are results too
    scenarios = {s["name"]: s for s in results["scenarios"]}
    for name, (_, (kind, status, message)) in EXHAUSTED.items():
        outcome.stdout.fnmatch_lines([f"{name}@c1: all 2 requests failed, nothing was measured: 2x {kind}*"])
        for sample in scenarios[name]["samples"]:
            assert sample["ok"] is False and sample["retries"] == 1, name  # two attempts, then given up
            assert (sample["error"]["kind"], sample["error"]["status"]) == (kind, status), name
            assert message is None or sample["error"]["message"] == message, name
            assert sample["e2e"] is None and sample["ttft"] is None, name  # a failure is never a latency
        assert scenarios[name]["aggregate"]["error_rate"] == 1.0, name
        assert scenarios[name]["aggregate"]["retries"] == 2, name


def test_a_client_error_is_not_retried(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario(name="bad", prompt="hi", max_completion_tokens=8)
        def test_bad(cerebras_call):
            cerebras_call(max_completion_tokens=0)  # the emulator answers 400, as the API would
    """)
    outcome, results = run_plugin(pytester, {}, "--iterations", "2")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*bad@c1: all 2 requests failed*2x client_error 400 (*max_completion_tokens*"])
    for sample in only_scenario(results)["samples"]:
        assert sample["error"]["kind"] == "client_error" and sample["error"]["status"] == 400
        assert sample["retries"] == 0


# -- the daily quota --------------------------------------------------------------------------
def test_a_daily_quota_stops_the_model_keeps_the_results_and_never_touches_baselines(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", scenarios=THREE_SCENARIOS)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario
        def test_latency(cerebras_call):
            cerebras_call()
    """)
    # ~100 ms requests and a lenient lag limit: a saturated run would not be saved as the baseline
    unhurried = ("--perf-max-client-lag", "1")
    first, _ = run_plugin(pytester, {"ttft_base": 0.1}, "--iterations", "3", "--perf-save", *unhurried)
    first.assert_outcomes(passed=3)
    baseline = next((pytester.path / "baselines").rglob("*.json"))
    accepted = baseline.read_bytes()

    # 4 requests a day: the first scenario takes 3, the second gets 1 and is refused the next.
    # (no gate: its confirmation re-run would spend the quota before the second scenario)
    outcome, results = run_plugin(
        pytester,
        {"requests_per_day": 4},
        "--iterations",
        "3",
        "--perf-save",
        "--perf-no-gate",
        report=str(pytester.path / "out" / "report.html"),
    )
    outcome.assert_outcomes(passed=1, failed=1, skipped=1)
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    text = outcome.stdout.str()
    reason = "daily quota exhausted for this model (Requests per day limit exceeded - too many requests sent.); "
    when = "resets in 2? h * min (at 20??-??-?? ??:?? UTC)"  # the emulator's day bucket refills in 24 h
    outcome.stdout.fnmatch_lines(
        [f"{reason}{when}", f"PARTIAL RUN: {reason}{when}", f"SKIPPED [[]1[]] *{reason}{when}"]
    )
    assert "Traceback" not in text and "During handling" not in text
    assert "baselines NOT saved: the run is partial" in text
    assert baseline.read_bytes() == accepted

    assert results["run"]["partial"] is True and results["run"]["partial_reason"].startswith(reason)
    first_run, second_run = results["scenarios"]
    assert first_run["complete"] is True and len(first_run["samples"]) == 3
    assert second_run["complete"] is False and second_run["stopped"].startswith(reason)
    assert [s["ok"] for s in second_run["samples"]] == [True]  # what was measured before the stop is kept
    report = (pytester.path / "out" / "report.html").read_text()
    assert "PARTIAL" in report.upper() and "Requests per day limit exceeded" in report


# -- ground truth: the emulator's own log against the samples ---------------------------------
def measure(url: str, key: str, plan: LoadPlan, policy: RetryPolicy, timeout: float = 5.0) -> list[Sample]:
    async def go() -> list[Sample]:
        endpoint = Endpoint("emulator", url, Secret(key), "fast")
        result = LoadResult()
        async with Harness(endpoint, pool_size=plan.concurrency + 2, timeout=timeout, policy=policy) as harness:
            await run_measured(harness, MODEL, REQUEST, plan, result)
        return result.samples

    return asyncio.run(go())


@pytest.fixture(scope="module")
def emulator() -> Any:
    with EmulatorProcess() as process:
        process.start("fast", api_key="fault-truth-key")
        yield process


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "rate_limit_rpm", "at": [2], "retry_after": 0.3},
        {"kind": "stream_error", "at": [2], "after_chunks": 3},
        {"kind": "hang", "at": [2]},
    ],
    ids=lambda fault: fault["kind"],
)
def test_the_clock_of_a_retried_request_starts_after_the_wait(emulator: Any, fault: dict[str, Any]) -> None:
    emulator.reset()
    emulator.set_faults([fault])
    samples = measure(emulator.url, "fault-truth-key", LoadPlan(3, 0, 1), RetryPolicy(retries=2), timeout=0.5)
    truth = emulator.truth()
    by_id = {record["request_id"]: record for record in truth}
    failed_attempt = next(record for record in truth if record["fault"] == fault["kind"])
    retried = samples[1]
    assert retried.ok and retried.retries == 1 and retried.timing is not None
    served = by_id[retried.request_id]
    assert served["outcome"] == "ok" and served["request_number"] == failed_attempt["request_number"] + 1
    # Same clock (CLOCK_MONOTONIC): the retry was sent after the failed attempt ended and the wait
    # was over, and its latency is the served request's life plus the network, nothing more.
    assert retried.timing.t0_ns >= failed_attempt["end_ns"] - 1_000_000
    assert retried.timing.t0_ns <= served["arrival_ns"] <= retried.timing.end_ns
    assert retried.e2e is not None and retried.e2e < (served["end_ns"] - served["arrival_ns"]) / 1e9 + 0.05
    if fault["kind"] == "rate_limit_rpm":
        assert (retried.timing.t0_ns - failed_attempt["end_ns"]) / 1e9 >= 0.95  # retry-after: 1 (0.3 rounded up)


def test_low_rate_limit_is_paced_from_headers_instead_of_collecting_429s(emulator: Any) -> None:
    """120 requests a minute (a refill every 0.5 s) with the bucket drained down to 2: eight
    requests must take about 3 s of waiting, with no 429, and no wait inside any latency."""
    emulator.set_faults([])
    emulator.set_profile({"requests_per_minute": 120, "retry_after_header": True})
    try:
        emulator.reset()
        body = json.dumps({"model": MODEL, "messages": REQUEST["messages"], "max_tokens": 1}).encode()
        headers = {"Authorization": "Bearer fault-truth-key", "Content-Type": "application/json"}
        for _ in range(118):
            with urllib.request.urlopen(
                urllib.request.Request(f"{emulator.url}/v1/chat/completions", data=body, headers=headers),
                timeout=5,
            ) as response:
                response.read()
        emulator.clear_truth()
        started = time.perf_counter()
        samples = measure(emulator.url, "fault-truth-key", LoadPlan(4, 0, 2), RetryPolicy(retries=0))
        elapsed = time.perf_counter() - started
        truth = emulator.truth()
    finally:
        emulator.set_profile({"requests_per_minute": 1_000_000_000, "retry_after_header": False})
    refused = [record for record in truth if record["status"] == 429]
    assert len(refused) <= 1  # in-flight bookings can race one header at most
    assert all(s.ok for s in samples) and len(samples) == 8
    assert elapsed >= 2.0  # 6 requests over the bucket, 0.5 s apart: the plugin waited
    by_id = {record["request_id"]: record for record in truth}
    for sample in samples:
        served = by_id[sample.request_id]
        assert sample.e2e is not None and sample.e2e < (served["end_ns"] - served["arrival_ns"]) / 1e9 + 0.05


def test_a_hung_up_server_is_a_connection_error_whatever_the_transport_calls_it() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def chain(*links: BaseException) -> BaseException:
        for outer, inner in itertools.pairwise(links):
            outer.__cause__ = inner
        return links[0]

    hung_up = chain(  # what httpx-aiohttp and the SDK make of a connection the server closed
        APITimeoutError(request=request),
        httpx.ConnectTimeout("Server disconnected", request=request),
        aiohttp.ServerDisconnectedError(),
    )
    timed_out = chain(
        APITimeoutError(request=request),
        httpx.ReadTimeout("Timeout on reading data from socket", request=request),
        aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
    )
    assert classify(hung_up).kind == "connection" and classify(hung_up).retryable
    assert classify(timed_out).kind == "timeout" and classify(timed_out).retryable


def test_the_pacer_counts_requests_sent_before_the_first_headers_and_the_refill() -> None:
    pacer = Pacer()

    async def send_two_blind() -> None:
        await pacer.before_send(100)
        await pacer.before_send(100)

    asyncio.run(send_two_blind())
    assert pacer.delay_for(100) == 0.0  # nothing known yet: no reason to wait
    # The first response's headers counted the first request only; the second takes the last slot.
    pacer.observe(
        {
            "x-ratelimit-limit-requests-minute": "60",
            "x-ratelimit-remaining-requests-minute": "1",
            "x-ratelimit-reset-requests-minute": "59",
        }
    )
    assert 0.9 < pacer.delay_for(100) <= 1.0  # 60 a minute refill one a second, not at the reset in 59 s
