"""Goodput: scenarios declare SLOs, the summary shows the share that met them, the gate fails a drop."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from perf_sessions import PLUGIN
from test_figures import sample

from pytest_cerebras_perf.baselines import BaselineRun, ScenarioBaseline
from pytest_cerebras_perf.goodput import gate_goodput, goodput, meets
from pytest_cerebras_perf.metrics import METRICS, Sample, SampleError, metric_values
from pytest_cerebras_perf.scenarios import ScenarioError, load_scenarios


def baseline_of(runs: list[list[Sample]]) -> ScenarioBaseline:
    return ScenarioBaseline(
        runs=tuple(
            BaselineRun(f"r{i}", "2026-01-01", None, len(s), {m: metric_values(s, m) for m in METRICS}, 0.0)
            for i, s in enumerate(runs)
        ),
        tolerances={},
    )


def test_a_request_meets_every_objective_or_none() -> None:
    slo = {"ttft": 0.2, "e2e": 1.2, "output_tps": 5.0}
    assert meets(sample(100, 1100), slo)
    assert not meets(sample(300, 1100), slo)  # ttft too slow
    assert not meets(sample(100, 3100), slo)  # e2e too slow, and 10 tokens in 3 s is under 5 tok/s
    assert not meets(Sample(ok=False, error=SampleError("timeout", None, "t")), slo)
    assert goodput([sample(100, 1100), sample(300, 1100)], slo) == 0.5
    assert goodput([sample(100, 1100)], {}) is None


def test_the_gate_scores_the_baseline_against_the_current_slo() -> None:
    fast = [sample(100, 1100) for _ in range(10)]
    baseline = baseline_of([fast, fast, fast])
    slower = [sample(100, 1100) for _ in range(4)] + [sample(400, 1400) for _ in range(6)]
    verdict = gate_goodput(slower, {"ttft": 0.2}, baseline, keep=3)
    assert (verdict.metric, verdict.verdict, verdict.baseline_p50, verdict.current_p50) == (
        "goodput",
        "regression",
        1.0,
        0.4,
    )
    assert verdict.note.startswith("4/10 requests met the SLO (ttft <= 200.0 ms) vs 100.0 % in the baseline")
    assert gate_goodput(slower, {"ttft": 0.5}, baseline, keep=3).verdict == "pass"  # a looser SLO: all meet
    assert gate_goodput(slower, {"ttft": 0.2}, None, keep=3).verdict == "no-baseline"


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("[0.5]", "slo' must map metric -> limit"),
        ("{speed: 1}", "slo.speed: unknown metric"),
        ("{ttft: -1}", "slo.ttft must be a positive number"),
    ],
)
def test_a_bad_slo_names_file_and_line(tmp_path: Path, slo: str, message: str) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(f"scenarios:\n  ok:\n    prompt: hi\n  bad:\n    prompt: hi\n    slo: {slo}\n")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenarios(path)
    assert str(excinfo.value).startswith(f"{path}:4: scenario 'bad': ") and message in str(excinfo.value)


SCENARIOS = """
scenarios:
  short:
    prompt: "What is AI?"
    max_completion_tokens: 8
    min_completion_tokens: 8
    slo: {SLO}
"""
TEST = """
import pytest

@pytest.mark.scenario
def test_latency(cerebras_call):
    cerebras_call()
"""
# 0.1 s to the first token, then 0.3 s: the SLO below holds for the first and not for the second.
# Requests that long also keep a busy test machine from saturating the client (not gated then).
PROFILE = "base: fast\nttft_base: {ttft}\n"
COMMON = (
    *PLUGIN,
    *("--perf-max-client-lag", "1", "--perf-report", "none", "--perf-seed-results", "none"),
    *("--iterations", "3", "--concurrency", "2", "--perf-gate-metrics", "goodput,error_rate"),
)


def test_goodput_is_shown_exported_and_gated_end_to_end(pytester: pytest.Pytester) -> None:
    scenarios = SCENARIOS.replace("{SLO}", "{ttft: 0.2, e2e: 30.0}")
    pytester.makefile(".yaml", scenarios=scenarios, usual=PROFILE.format(ttft=0.1), slower=PROFILE.format(ttft=0.3))
    pytester.makepyfile(test_perf=TEST)
    accepted = pytester.runpytest_subprocess(*COMMON, "--perf-emulator-profile", "usual.yaml", "--perf-save")
    accepted.assert_outcomes(passed=1)
    accepted.stdout.fnmatch_lines(["scenario * e2e p50/p95/p99 ms * tok/s  req/s  goodput", "short@c2 * 100.0 %"])

    csv_path, jsonl_path, results_path = (pytester.path / name for name in ("r.csv", "r.jsonl", "results.json"))
    failed = pytester.runpytest_subprocess(
        *COMMON,
        *("--perf-emulator-profile", "slower.yaml", "--perf-csv", str(csv_path)),
        *("--perf-jsonl", str(jsonl_path), "--perf-json", str(results_path)),
    )
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["FAILED test_perf.py::test_latency?short? - Failed: goodput 0.0 % vs baseline"])
    results = json.loads(results_path.read_text())
    (scenario,) = results["scenarios"]
    assert scenario["goodput"] == 0.0 and scenario["slo"] == {"ttft": 0.2, "e2e": 30.0}
    assert [g["verdict"] for g in scenario["gate"] if g["metric"] == "goodput"] == ["regression"]
    rows = list(csv.DictReader(csv_path.open()))
    lines = [json.loads(line) for line in jsonl_path.read_text().splitlines()]
    assert len(rows) == len(lines) == len(scenario["samples"]) == 6
    assert [line["ttft"] for line in lines] == [s["ttft"] for s in scenario["samples"]]
    assert [float(row["e2e"]) for row in rows] == [s["e2e"] for s in scenario["samples"]]
