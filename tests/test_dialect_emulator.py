"""The emulator imitating vLLM and llama.cpp streams, end to end through the plugin: the dialect is
named, server times come from llama.cpp's ``timings``, a length the server ignores is warned about and
not gated, the per-target length fields fix it, and a run with many errors fails without a baseline."""

from __future__ import annotations

from typing import Any

import pytest
from perf_sessions import perf_session, perf_suite

SCENARIOS = """
scenarios:
  pinned:
    prompt: "Count to twenty-four."
    max_completion_tokens: 24
    min_completion_tokens: 24
"""


PROFILES = {
    # default_output_tokens 16 (fast) + 4 reasoning tokens: 20, unless the server honours a minimum
    "llamacpp": "base: fast\ndialect: llamacpp\nreasoning_tokens: {medium: 4}\ndefault_reasoning_effort: medium\n",
    "vllm": "base: fast\ndialect: vllm\n",
    "errors": "base: fast\nfaults: [{kind: http_500, every: 2}]\n",
}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return perf_suite(pytester, SCENARIOS, PROFILES)


def run(pytester: pytest.Pytester, profile: str, *extra: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    profile_file = pytester.path / f"{profile}.yaml"
    return perf_session(
        pytester,
        pytester.path / f"results-{profile}.json",
        *("--perf-emulator-profile", str(profile_file), "--iterations", "3", *extra),
        max_client_lag=0.5,
    )


def test_llamacpp_dialect_ignores_the_minimum_until_ignore_eos_is_sent(suite: pytest.Pytester) -> None:
    outcome, results = run(suite, "llamacpp")
    outcome.assert_outcomes(passed=1)
    outcome.stdout.fnmatch_lines(
        [
            "endpoint dialect: llama.cpp (usage on request, timings), thinking in delta.reasoning_content; missing: "
            "server queue time*; length sent as max_completion_tokens, min_completion_tokens",
            "warning: 3 of 3 responses were not of the scenario's length 24 tokens: 20..20 tokens, finish_reason "
            "stop; length-dependent metrics are not gated*",
        ]
    )
    (scenario,) = results["scenarios"]
    samples = scenario["samples"]
    assert all(s["usage"]["source"] == "usage" and s["usage"]["prompt_tokens"] > 0 for s in samples)
    assert all(s["server"]["source"] == "timings" and s["server"]["total_time"] > 0 for s in samples)
    assert all(s["response"]["reasoning_field"] == "reasoning_content" for s in samples)
    assert all(s["usage"]["reasoning_tokens"] == 4 and s["usage"]["reasoning_estimated"] for s in samples)
    gate = {v["metric"]: v for v in scenario["gate"]}
    assert gate["e2e"]["verdict"] == "not-gated" and "length" in gate["e2e"]["note"]
    assert gate["ttft"]["verdict"] == "no-baseline"

    outcome, results = run(suite, "llamacpp", "--perf-length-fields", "max_tokens,ignore_eos")
    outcome.assert_outcomes(passed=1)
    assert "not of the scenario's length" not in outcome.stdout.str()
    (scenario,) = results["scenarios"]
    assert [s["usage"]["completion_tokens"] for s in scenario["samples"]] == [24, 24, 24]
    assert results["target"]["length_fields"] == ["max_tokens", "ignore_eos"]


def test_vllm_dialect_honours_min_tokens_and_reports_no_server_times(suite: pytest.Pytester) -> None:
    outcome, results = run(suite, "vllm", "--perf-length-fields", "max_tokens,min_tokens")
    outcome.assert_outcomes(passed=1)
    assert results["target"]["dialect"] == (
        "OpenAI-compatible (usage, no server times: vLLM/SGLang-like); missing: server times, cached tokens"
    )
    (scenario,) = results["scenarios"]
    assert [s["usage"]["completion_tokens"] for s in scenario["samples"]] == [24, 24, 24]
    gate = {v["metric"]: v for v in scenario["gate"]}
    assert gate["server_total"]["verdict"] == "not-gated"


def test_half_the_requests_failing_fails_the_test_without_a_baseline(suite: pytest.Pytester) -> None:
    outcome, results = run(suite, "errors", "--perf-retries", "0", "--iterations", "4")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*scenario*requests*errors*",
            "pinned@c1 * 4 * 50.0 %*",
            "errors in pinned@c1: 2 of 4 requests: 2x server_error 500*",
            "*errors 50.0 %*",
        ]
    )
    assert "pinned@c1: 2 of 4 requests failed (50.0 %, above the 5.0 % allowed by --perf-max-error-rate)" in (
        outcome.stdout.str()
    )
    assert all(v["verdict"] in ("no-baseline", "not-gated") for v in results["scenarios"][0]["gate"])
