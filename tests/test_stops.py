"""Runs that must stop instead of going on: a wait the endpoint asks for beyond the cap fails the
request, a run of identical failures opens the breaker, and a daily quota at concurrency > 1
cancels the requests in flight beside it (also in other client processes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hostile_gateways import MODEL, millisecond_gateway
from perf_sessions import PLUGIN

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.retry import BREAKER_THRESHOLD, MAX_ENDPOINT_WAIT_S

API_KEY = "stops-test-key"
# Generous: on a run without the cap the sleep would last for days; this turns it into a failure.
HANG_GUARD_S = 240


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEREBRAS_API_KEY", API_KEY)  # the module's emulator answers only this key


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    results = pytester.path / "out" / "results.json"
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--warmup", "0", "--perf-json", str(results), "--perf-report", "none", "--perf-seed-results", "none"),
        *("--perf-baseline-dir", str(pytester.path / "baselines"), "--perf-no-gate"),
        *args,
        timeout=HANG_GUARD_S,
    )
    return outcome, json.loads(results.read_text())


def by_name(results: dict[str, Any]) -> dict[str, Any]:
    return {scenario["name"]: scenario for scenario in results["scenarios"]}


def test_a_reset_in_milliseconds_fails_the_request_instead_of_sleeping_for_days(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario(name="refused", prompt="refuse", max_completion_tokens=8)
        def test_refused(cerebras_call):
            cerebras_call()

        @pytest.mark.scenario(name="paced", prompt="hi", max_completion_tokens=8)
        def test_paced(cerebras_call):
            cerebras_call()
    """)
    with millisecond_gateway() as url:
        outcome, results = run(
            pytester, "--perf-base-url", url, "--model", MODEL, "--iterations", "3", "--perf-max-error-rate", "1"
        )
    outcome.assert_outcomes(failed=1, passed=1)  # "paced" has one success; no gate, no error-rate limit here
    scenarios = by_name(results)
    cap = f"asks for a 86,400,000 s wait, more than the {MAX_ENDPOINT_WAIT_S:g} s cap"
    refused = scenarios["refused"]["samples"]  # a 429 with retry-after 86400000
    assert all(not s["ok"] and cap in s["error"]["message"] for s in refused)
    paced = scenarios["paced"]["samples"]  # 200s saying: no request left until a reset in 86400000 s
    assert paced[0]["ok"] and all(not s["ok"] and cap in s["error"]["message"] for s in paced[1:])
    assert len(refused) == len(paced) == 3


@pytest.mark.parametrize(
    ("fault", "kind"),
    [({"kind": "rate_limit_rpm", "retry_after": 1}, "429 rate_limit"), ({"kind": "hang"}, "timeout")],
    ids=["persistent-429", "persistent-hang"],
)
def test_a_run_of_identical_failures_stops_the_scenario_and_says_why(
    pytester: pytest.Pytester, emulator: EmulatorProcess, fault: dict[str, Any], kind: str
) -> None:
    emulator.reset()
    emulator.set_faults([fault])
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario(name="doomed", prompt="hi", max_completion_tokens=8)
        def test_doomed(cerebras_call):
            cerebras_call()
    """)
    try:
        outcome, results = run(
            pytester,
            "--perf-base-url",
            emulator.url,
            "--iterations",
            "20",
            "--perf-timeout",
            "0.3",
            "--perf-retries",
            "3",
        )
    finally:
        emulator.set_faults([])
    outcome.assert_outcomes(failed=1)
    reason = f"stopped after {BREAKER_THRESHOLD} consecutive {kind} errors: "
    outcome.stdout.fnmatch_lines([f"*doomed@c1: {reason}*"])
    doomed = by_name(results)["doomed"]
    assert doomed["complete"] is False and doomed["stopped"].startswith(reason)
    assert doomed["samples"] and not any(s["ok"] for s in doomed["samples"])  # kept, not discarded
    assert len(emulator.truth()) == BREAKER_THRESHOLD  # then nothing more was sent


@pytest.mark.parametrize("processes", [[], ["--perf-workers", "2"]], ids=["one-process", "perf-workers"])
def test_a_daily_quota_at_concurrency_4_cancels_the_requests_beside_it(
    pytester: pytest.Pytester, emulator: EmulatorProcess, processes: list[str]
) -> None:
    # 0.4 s per request: after the quota, the three other slots would each send again within 0.4 s
    emulator.set_profile({"decode_tps": 100.0, "requests_per_day": 10})
    emulator.reset()
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario(name="spender", prompt="hi", max_completion_tokens=40, min_completion_tokens=40)
        def test_spender(cerebras_call):
            cerebras_call()
    """)
    try:
        outcome, results = run(
            pytester, "--perf-base-url", emulator.url, "--iterations", "25", "--concurrency", "4", *processes
        )
    finally:
        emulator.set_profile(load_profile("fast").to_dict())
    outcome.assert_outcomes(failed=1)
    assert "Task was destroyed" not in outcome.stdout.str() + outcome.stderr.str()
    truth = emulator.truth()
    refused = min(r["first_byte_ns"] for r in truth if r["status"] == 429)
    late = [r for r in truth if r["arrival_ns"] > refused + 50_000_000]
    assert late == []  # the slots beside the one refused sent nothing more
    samples = by_name(results)["spender"]["samples"]
    kept = {s["request_id"] for s in samples if s["ok"]}
    completed = {r["request_id"] for r in truth if r["outcome"] == "ok" and r["end_ns"] is not None}
    assert kept <= completed and len(completed - kept) <= 3  # at most the three in flight beside it
