"""The cause of an e2e regression end to end: a reasoning model thinks twice as long at the same token
speed, or emits tokens 1.5x slower with the same reasoning; the failure message names which."""

from __future__ import annotations

import json
from typing import Any

import pytest
from perf_sessions import PLUGIN, perf_session, perf_suite

SCENARIOS = """
scenarios:
  answer:
    prompt: "Why is the sky blue?"
    max_completion_tokens: 2000
"""

PROFILE = """
base: fast
ttft_base: 0.005
decode_tps: {decode}
jitter_sigma: 0.03
default_output_tokens: 16
reasoning_tokens: {{medium: {reasoning}}}
default_reasoning_effort: medium
reasoning_sigma: 0.1
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    profiles = {
        f"profile_{name}": PROFILE.format(decode=decode, reasoning=reasoning)
        for name, decode, reasoning in (("base", 2000, 80), ("thinks_longer", 2000, 160), ("slower", 1300, 80))
    }
    return perf_suite(pytester, SCENARIOS, profiles)


def run(pytester: pytest.Pytester, profile: str, *extra: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    profile_file = pytester.path / f"profile_{profile}.yaml"
    return perf_session(
        pytester,
        pytester.path / f"results-{profile}.json",
        *("--perf-emulator-profile", str(profile_file), "--iterations", "10", *extra),
        max_client_lag=0.5,
    )


def test_the_failure_message_names_what_moved(suite: pytest.Pytester) -> None:
    outcome, _ = run(suite, "base", "--perf-save")
    outcome.assert_outcomes(passed=1)
    saved = json.loads(next((suite.path / "baselines").rglob("*.json")).read_text())
    run_saved = saved["scenarios"]["answer@c1"]["runs"][0]
    assert run_saved["system_fingerprints"] and len(run_saved["samples"]["reasoning_tokens"]) == 10

    outcome, results = run(suite, "thinks_longer")
    outcome.assert_outcomes(failed=1)
    entry = results["scenarios"][0]
    assert {g["metric"]: g["verdict"] for g in entry["gate"]}["e2e"] == "regression"
    text = outcome.stdout.str()
    assert "answer@c1: e2e cause: reasoning length moved (reasoning tokens p50 " in text, text
    assert entry["e2e_cause"].startswith("e2e cause: reasoning length moved")

    outcome, results = run(suite, "slower")
    outcome.assert_outcomes(failed=1)
    assert "answer@c1: e2e cause: token speed moved (" in outcome.stdout.str()
    assert results["scenarios"][0]["e2e_cause"].startswith("e2e cause: token speed moved")


def test_the_retired_study_profile_still_measures_and_says_it_is_retired(pytester: pytest.Pytester) -> None:
    perf_suite(pytester, 'scenarios:\n  tiny:\n    prompt: "hi"\n    max_completion_tokens: 4\n')
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "cerebras-llama-3.3-70b", "--iterations", "2"),
        *("--perf-report", "none", "--perf-seed-results", "none"),
    )
    outcome.assert_outcomes(passed=1)
    outcome.stdout.fnmatch_lines(["*model llama-3.3-70b (resolved from /v1/models)*", "*Cerebras has RETIRED*"])
