"""Interleaved A/B end to end: real emulators with session drift, the real SDK, pytest sessions.

Two emulator processes serve the module: ``a`` as profiled, ``b`` with decode 20 % slower. Between
sessions both get a new drift factor (the endpoint's "day"), the same for both: in A/B mode it must
not matter. The detection rates over the issue's full 20 + 10 + 10 sessions are printed by
``benchmarks/ab_reruns.py``; here a few sessions check that each mechanism works.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from perf_sessions import PLUGIN, perf_suite

from pytest_cerebras_perf.emulator import EmulatorProcess

KEY_A = "emu-a-key-never-printed-7f3a"
KEY_B = "emu-b-key-never-printed-91c2"
PROFILE = "base: fast\nttft_base: 0.005\ndecode_tps: {decode}\njitter_sigma: 0.03\ndrift_tau: 0.05\n"
REASONING = "base: cerebras-gpt-oss-120b\nttft_base: 0.01\nqueue_spike_probability: 0.0\ndecode_tps: 6000\n"
SCENARIOS = """
scenarios:
  decode_heavy:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 300
    min_completion_tokens: 300
"""


def emulator_with(profile: str, key: str, folder: Path) -> Iterator[EmulatorProcess]:
    path = folder / "profile.yaml"
    path.write_text(profile)
    with EmulatorProcess() as process:
        process.start(str(path), api_key=key)
        yield process


@pytest.fixture(scope="module")
def endpoint_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    yield from emulator_with(PROFILE.format(decode=2000), KEY_A, tmp_path_factory.mktemp("a"))


@pytest.fixture(scope="module")
def endpoint_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    yield from emulator_with(PROFILE.format(decode=round(2000 / 1.2)), KEY_B, tmp_path_factory.mktemp("b"))


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    perf_suite(pytester, SCENARIOS)
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY_B)
    monkeypatch.setenv("CEREBRAS_AB_API_KEY", KEY_A)
    return pytester


def session(suite: pytest.Pytester, name: str, *options: str) -> tuple[pytest.RunResult, dict[str, Any], str]:
    results, report = suite.path / f"{name}.json", suite.path / f"{name}.html"
    outcome = suite.runpytest_subprocess(
        *PLUGIN,
        *("--perf-json", str(results), "--perf-report", str(report), "--perf-seed-results", "none"),
        # a busy test machine must not mark the client saturated (nothing would be gated)
        *("--perf-max-client-lag", "0.05"),
        *options,
    )
    if not results.exists():  # no scenario run was measured
        return outcome, {}, ""
    return outcome, json.loads(results.read_text()), report.read_text()


def gate(results: dict[str, Any], run_id: str) -> dict[str, dict[str, Any]]:
    entry = next(s for s in results["scenarios"] if s["id"] == run_id)
    return {g["metric"]: g for g in entry["gate"]}


def new_day(factor: float, *emulators: EmulatorProcess) -> None:
    """The endpoint's drift changes between sessions, for both sides alike."""
    for emulator in emulators:
        emulator.set_drift(factor)


def test_a_equals_b_passes_on_any_day_and_alternates_on_every_slot(
    suite: pytest.Pytester, endpoint_a: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY_A)  # B measures endpoint a too
    for day, factor in enumerate((0.92,)):
        new_day(factor, endpoint_a)
        outcome, results, report = session(
            suite,
            f"same-{day}",
            "--perf-base-url",
            endpoint_a.url,
            "--perf-ab-scenarios",
            str(suite.path / "scenarios.yaml"),
            "--iterations",
            "5",
            "--concurrency",
            "1,2",
        )
        outcome.assert_outcomes(passed=2)
        for entry in results["scenarios"]:
            concurrency = entry["concurrency"]
            blocks = entry["ab"]["blocks"]
            assert blocks == 5 * concurrency + entry["confirmation_samples"]
            assert len(entry["ab"]["a"]["samples"]) == len(entry["samples"]) == blocks
            assert sorted(i for i, _ in entry["ab"]["pairs"]) == list(range(blocks))
            assert all(g["verdict"] != "regression" for g in entry["gate"])
        assert results["ab"]["a"]["scenarios_file"] == str(suite.path / "scenarios.yaml")
        outcome.stdout.fnmatch_lines(["A/B, interleaved, * blocks: A = scenarios *", "*decode_heavy@c2 e2e: A * → B *"])
        assert re.search(r"A/B, interleaved, \d+ blocks", report)


def test_b_slower_in_decode_fails_whatever_the_day(
    suite: pytest.Pytester, endpoint_a: EmulatorProcess, endpoint_b: EmulatorProcess
) -> None:
    for day, factor in enumerate((1.1, 0.9)):
        new_day(factor, endpoint_a, endpoint_b)
        outcome, results, report = session(
            suite,
            f"slower-{day}",
            "--perf-base-url",
            endpoint_b.url,
            "--perf-ab-base-url",
            endpoint_a.url,
            "--iterations",
            "10",
        )
        outcome.assert_outcomes(failed=1)
        verdicts = gate(results, "decode_heavy@c1")
        regressed = {metric for metric, decision in verdicts.items() if decision["verdict"] == "regression"}
        assert regressed and regressed <= {"e2e", "output_tps", "server_total"}, verdicts  # decode, nothing else
        assert 0.75 < verdicts["output_tps"]["ratio"] < 0.92
        assert all(decision["tau"] is None for decision in verdicts.values())  # paired: no drift term
        text = outcome.stdout.str() + outcome.stderr.str()
        assert "B vs A" in text and all(metric in text for metric in regressed)
        assert results["scenarios"][0]["ab"]["a"]["base_url"] == endpoint_a.url
        for where in (text, json.dumps(results), report):
            assert KEY_A not in where and KEY_B not in where


def test_reasoning_effort_low_on_a_reaches_the_endpoint_and_shows_in_the_report(
    suite: pytest.Pytester, tmp_path: Path
) -> None:
    suite.makefile(".yaml", scenarios='scenarios:\n  decode_heavy:\n    prompt: "Why is the sky blue?"\n')
    for process in emulator_with(REASONING, KEY_B, tmp_path):
        process.set_drift(1.05)
        outcome, results, report = session(
            suite,
            "effort",
            "--perf-base-url",
            process.url,
            "--perf-ab-set",
            "reasoning_effort=low",
            "--iterations",
            "6",
            "--perf-gate-metrics",
            "e2e",
        )
        truth = [r for r in process.truth() if r["endpoint"] == "chat"]
    entry = results["scenarios"][0]
    assert entry["ab"]["a"]["request"]["reasoning_effort"] == "low"
    assert "reasoning_effort" not in entry["ab"]["b"]["request"]
    efforts = [r["reasoning_effort"] for r in truth]
    assert efforts.count("low") == len(entry["ab"]["a"]["samples"]) + 1  # + A's warmup request
    assert efforts.count("medium") == len(entry["samples"]) + 1
    measured = efforts[2:]  # after both warmups: every block is one low and one medium request
    assert all({measured[i], measured[i + 1]} == {"low", "medium"} for i in range(0, len(measured), 2))
    e2e = gate(results, "decode_heavy@c1")["e2e"]
    assert e2e["current_p50"] > e2e["baseline_p50"] and e2e["ratio"] > 1.2  # medium thinks longer than low
    outcome.assert_outcomes(failed=1)  # B (medium) is slower than A (low): the gate says so
    a_reasoning = entry["ab"]["a"]["summary"]["reasoning_tokens"]["p50"]
    b_reasoning = entry["summary"]["reasoning_tokens"]["p50"]
    assert a_reasoning < b_reasoning
    rows = re.findall(r'<tr data-side="([AB])">(.*?)</tr>', report, flags=re.S)
    assert [side for side, _ in rows] == ["A", "B"]
    assert "reasoning_effort=low" in rows[0][1] and "reasoning tokens" in report


def test_save_is_refused_in_one_line(suite: pytest.Pytester) -> None:
    outcome = suite.runpytest_subprocess("-p", "cerebras_perf", "--perf-ab-model", "x", "--perf-save")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in outcome.stderr.lines if "--perf-save" in line]
    assert len(lines) == 1 and "refused in A/B mode" in lines[0]


def test_a_scenario_missing_from_a_file_fails_the_test_naming_it(
    suite: pytest.Pytester, endpoint_a: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY_A)
    other = suite.path / "base.yaml"
    other.write_text('scenarios:\n  something_else:\n    prompt: "hi"\n')
    outcome, _, _ = session(
        suite, "missing", "--perf-base-url", endpoint_a.url, "--perf-ab-scenarios", str(other), "--iterations", "2"
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*no scenario 'decode_heavy' to pair with B's*A has: something_else*"])
