"""The gate end to end: save a baseline, rerun unchanged / 30 % slower / 30 % faster in decode.

The emulator profile is the only thing that changes between runs, so the verdicts must follow it:
unchanged passes, slower decode fails the decode-heavy test naming output_tps and e2e (and only
that test), faster decode passes with ``improvement``. JUnit must show the failure.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from perf_sessions import perf_session, perf_suite

SCENARIOS = """
scenarios:
  decode_heavy:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 200
    min_completion_tokens: 200
  prompt_only:
    prompt: "What is AI?"
    max_completion_tokens: 40
    min_completion_tokens: 40
    tolerances:
      default: 5.0   # it stands for a scenario that did not regress: its slower decode is not material
"""

PROFILE = """
base: fast
ttft_base: 0.005
decode_tps: {decode}
jitter_sigma: 0.03
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    profiles = {
        f"profile_{name}": PROFILE.format(decode=decode)
        for name, decode in (("base", 2000), ("slow", round(2000 / 1.3)), ("fast", 2600))
    }
    return perf_suite(pytester, SCENARIOS, profiles)


def run(pytester: pytest.Pytester, profile: str, *extra: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    return perf_session(
        pytester,
        pytester.path / f"results-{profile}.json",
        *("--perf-emulator-profile", str(pytester.path / f"profile_{profile}.yaml"), "--iterations", "10"),
        *("--junitxml", str(pytester.path / f"junit-{profile}.xml"), *extra),
    )


def verdicts(results: dict[str, Any], scenario: str) -> dict[str, str]:
    entry = next(s for s in results["scenarios"] if s["name"] == scenario)
    return {g["metric"]: g["verdict"] for g in entry["gate"]}


def test_require_baseline_fails_without_one(suite: pytest.Pytester) -> None:
    outcome, _ = run(suite, "base", "--perf-require-baseline")
    outcome.assert_outcomes(failed=2)
    outcome.stdout.fnmatch_lines(["*no baseline (--perf-require-baseline)*"])


def test_no_gate_records_only(suite: pytest.Pytester, tmp_path: Path) -> None:
    outcome, results = run(suite, "base", "--perf-no-gate")
    outcome.assert_outcomes(passed=2)
    assert all(s["gate"] == [] for s in results["scenarios"])
    assert results["settings"]["gate_metrics"] == []


def stored_runs(suite: pytest.Pytester) -> dict[str, int]:
    document = json.loads((suite.path / "baselines/emulator/llama-3.3-70b.json").read_text())
    return {scenario: len(entry["runs"]) for scenario, entry in document["scenarios"].items()}


def test_save_unchanged_faster_then_slower_refused_until_accepted(suite: pytest.Pytester) -> None:
    """One baseline, five sessions: each verdict follows the profile, and a regression is saved only on purpose."""
    outcome, first = run(suite, "base", "--perf-save")
    outcome.assert_outcomes(passed=2)
    assert set(verdicts(first, "decode_heavy").values()) == {"no-baseline"}
    saved = list((suite.path / "baselines").rglob("*.json"))
    assert [p.relative_to(suite.path).as_posix() for p in saved] == ["baselines/emulator/llama-3.3-70b.json"]
    assert stored_runs(suite) == {"decode_heavy@c1": 1, "prompt_only@c1": 1}
    before = saved[0].read_bytes()

    outcome, unchanged = run(suite, "base")
    outcome.assert_outcomes(passed=2)
    assert saved[0].read_bytes() == before  # no --perf-save: the baseline did not move
    for scenario in ("decode_heavy", "prompt_only"):
        assert "regression" not in verdicts(unchanged, scenario).values()
    assert verdicts(unchanged, "decode_heavy")["ttft"] in ("pass", "inconclusive", "underpowered")

    outcome, faster = run(suite, "fast")
    outcome.assert_outcomes(passed=2)
    heavy = verdicts(faster, "decode_heavy")
    assert heavy["output_tps"] == "improvement" and heavy["e2e"] == "improvement", heavy
    outcome.stdout.fnmatch_lines(["*IMPROVEMENT*decode_heavy@c1*output_tps*"])

    outcome, slower = run(suite, "slow", "--perf-save")
    outcome.assert_outcomes(passed=1, failed=1)
    heavy = verdicts(slower, "decode_heavy")
    assert heavy["output_tps"] == "regression" and heavy["e2e"] == "regression", heavy
    assert "regression" not in verdicts(slower, "prompt_only").values()
    text = outcome.stdout.str()
    assert "test_perf[decode_heavy] FAILED" in text or "FAILED test_perf.py::test_perf[decode_heavy]" in text
    assert "output_tps" in text and "e2e" in text
    stage2 = next(
        g
        for g in next(s for s in slower["scenarios"] if s["name"] == "decode_heavy")["gate"]
        if g["metric"] == "output_tps"
    )
    assert stage2["stage"] == 2 and stage2["ratio"] < 0.85
    junit = ET.parse(suite.path / "junit-slow.xml").getroot()
    failures = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert failures == ["test_perf[decode_heavy]"]
    outcome.stdout.fnmatch_lines(
        ["*decode_heavy@c1: NOT saved as a baseline: confirmed regression of *output_tps*--perf-accept-regression*"]
    )
    assert stored_runs(suite) == {"decode_heavy@c1": 1, "prompt_only@c1": 2}  # the other scenario was saved

    outcome, accepted = run(suite, "slow", "--perf-save", "--perf-accept-regression")
    regressed = [m for m, v in verdicts(accepted, "decode_heavy").items() if v == "regression"]
    assert regressed, verdicts(accepted, "decode_heavy")  # still slower than the one accepted run
    outcome.stdout.fnmatch_lines(["*decode_heavy@c1: saved WITH its confirmed regression of*--perf-accept-regression*"])
    assert stored_runs(suite) == {"decode_heavy@c1": 2, "prompt_only@c1": 3}
