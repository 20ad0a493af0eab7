"""One baseline everywhere: with ``--perf-baseline-runs 5`` the results JSON and the HTML report show
exactly the baseline samples the gate compared with (a real session against the real emulator)."""

from __future__ import annotations

import html
import statistics
from pathlib import Path

import pytest
from perf_sessions import PLUGIN, perf_suite
from test_baseline_identity import SCENARIOS  # one "short" scenario

from pytest_cerebras_perf.baselines import BaselineRun, load_baseline, save_runs
from pytest_cerebras_perf.results_doc import load

TARGET = {"kind": "emulator", "key": "emulator"}
MODEL = "llama-3.3-70b"
GATED = ("ttft", "e2e", "server_total")


def stored_run(index: int) -> BaselineRun:
    """40 samples a metric, each run a little different, so that which runs were pooled shows."""
    scale = 1 + 0.01 * index
    samples = {
        "ttft": [0.02 * scale * (1 + 0.002 * i) for i in range(40)],
        "e2e": [0.05 * scale * (1 + 0.002 * i) for i in range(40)],
        "server_total": [0.005 * scale * (1 + 0.002 * i) for i in range(40)],
    }
    return BaselineRun(
        run_id=f"run-{index}",
        accepted=f"2025-02-{10 + index}T12:00:00+00:00",
        commit=None,
        iterations=40,
        samples=samples,
        error_rate=0.0,
    )


def test_results_and_report_show_the_baseline_samples_the_gate_used(pytester: pytest.Pytester) -> None:
    baseline_file = pytester.path / "baselines" / "emulator" / f"{MODEL}.json"
    for index in range(6):  # one more than is pooled, and 200 samples in the last five: over the cap of 100
        save_runs(baseline_file, target=TARGET, model=MODEL, runs={"short@c1": stored_run(index)}, tolerances={})
    perf_suite(pytester, SCENARIOS)
    results_path, report_path = pytester.path / "results.json", pytester.path / "report.html"
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        "--perf-emulator-profile", "fast", "--iterations", "3", "--perf-baseline-runs", "5",
        "--perf-gate-metrics", ",".join(GATED), "--perf-max-client-lag", "1",
        "--perf-baseline-dir", str(pytester.path / "baselines"), "--perf-seed-results", "none",
        "--perf-json", str(results_path), "--perf-report", str(report_path),
    )  # fmt: skip
    assert results_path.exists(), outcome.stdout.str()
    entry = load(results_path.read_text())["scenarios"][0]

    stored = load_baseline(Path(baseline_file), target=TARGET, model=MODEL)
    assert stored is not None
    gated_against = stored.scenarios["short@c1"]
    baseline = entry.get("baseline")
    assert baseline is not None and baseline["runs"] == 5 and baseline.get("stored_runs") == 6
    decisions = {g["metric"]: g for g in entry["gate"]}
    report = html.unescape(report_path.read_text())
    for metric in GATED:
        used = [x for run in gated_against.pooled_runs(metric, keep=5) for x in run]
        assert len(used) == 100 and baseline["samples"][metric] == used, metric  # 5 runs of 20: none dropped
        decision = decisions[metric]
        assert decision.get("m") == len(used) and decision.get("baseline_runs") == 5, decision
        assert decision["baseline_p50"] == pytest.approx(statistics.median(used)), decision
        assert f"short@c1: 5 runs, {len(used)} samples" in report, metric  # the baseline chart's caption
