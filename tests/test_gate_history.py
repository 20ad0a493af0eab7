"""The gate over a baseline history, end to end: a slow slide, a large baseline, a pass that saw little.

Real pytest sessions against the real emulator. A slide of +4 % per saved run never trips the
rolling baseline (each run is close to the last few) but must be reported as ``drifting``; at
concurrency 8 five saved runs are more samples than the pooled cap and must all still be used
(subsampled, never dropped whole); a pass whose MDE is above its tolerance must say so in the
terminal, in JUnit and in the report.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from perf_sessions import perf_session, perf_suite

from pytest_cerebras_perf.baselines import load_baseline, save_runs
from pytest_cerebras_perf.gate import Comparison, GatePolicy, StoredRun, Tolerance, gate_metric
from pytest_cerebras_perf.messages import why_failed
from pytest_cerebras_perf.metrics import METRICS

SCENARIOS = """
scenarios:
  story:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 40
    min_completion_tokens: 40
"""


#: ~0.8 s requests, so the client's own time stays a small share of them even at concurrency 8 on a
#: busy machine (a saturated run is neither gated nor saved)
PROFILE = """
base: fast
ttft_base: {ttft}
decode_tps: {decode}
jitter_sigma: {jitter}
"""


def run(
    pytester: pytest.Pytester, slower: float, *extra: str, jitter: float = 0.02
) -> tuple[pytest.RunResult, dict[str, Any]]:
    profile = pytester.path / "profile.yaml"
    profile.write_text(PROFILE.format(ttft=0.8 * slower, decode=2000 / slower, jitter=jitter))
    return perf_session(
        pytester,
        pytester.path / "results.json",
        *("--perf-emulator-profile", str(profile), "--junitxml", str(pytester.path / "junit.xml"), *extra),
        report=pytester.path / "report.html",
    )


def gates(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["metric"]: g for g in results["scenarios"][0]["gate"]}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return perf_suite(pytester, SCENARIOS)


def save_slide(path: Path, scenario: str, steps: int, per_step: float) -> None:
    """Append ``steps`` more runs to the baseline at ``path``, each ``per_step`` slower than the one before.

    Through the real baseline writer, from the one measured run: its durations scaled up and its
    rates down, so the slide is exact and costs no session each (they were back-to-back saves of
    the emulator at a slower profile, seconds apart; they still are).
    """
    document = json.loads(path.read_text())
    target, model = document["target"], document["model"]
    baseline = load_baseline(path, target=target, model=model)
    assert baseline is not None
    measured = baseline.scenarios[scenario].runs[-1]
    for step in range(1, steps + 1):
        factor = per_step**step
        scale = {"s": factor, "tok/s": 1 / factor}
        samples = {
            metric: [v * scale.get(METRICS[metric].unit, 1.0) if metric in METRICS else v for v in values]
            for metric, values in measured.samples.items()
        }
        accepted = dt.datetime.fromisoformat(measured.accepted) + dt.timedelta(seconds=10 * step)
        run = replace(measured, run_id=f"{measured.run_id}-{step}", accepted=accepted.isoformat(), samples=samples)
        save_runs(path, target=target, model=model, runs={scenario: run}, tolerances={})


def test_a_slow_slide_at_concurrency_8_is_drifting_and_all_five_pooled_runs_are_used(suite: pytest.Pytester) -> None:
    sweep = ("--concurrency", "8", "--iterations", "4", "--perf-baseline-runs", "5")  # 32 samples a run
    run(suite, 1.0, *sweep, "--perf-save", "--perf-no-gate")[0].assert_outcomes(passed=1)
    path = suite.path / "baselines/emulator/llama-3.3-70b.json"
    save_slide(path, "story@c8", steps=5, per_step=1.04)  # each saved run 4 % slower than the one before
    stored = json.loads(path.read_text())
    assert len(stored["scenarios"]["story@c8"]["runs"]) == 6
    # within tolerance of the last five runs pooled (+12 % on average), still on the slide
    outcome, results = run(suite, 1.04**4, *sweep)
    outcome.assert_outcomes(passed=1)  # drifting fails nothing unless asked to
    by_metric = gates(results)
    latency = {m: by_metric[m] for m in ("ttft", "e2e", "server_total")}
    assert {g["baseline_runs"] for g in latency.values()} == {5}, latency  # 160 samples: all 5 runs, subsampled
    drifting = [m for m, g in by_metric.items() if g["verdict"] == "drifting"]
    assert drifting, {m: (g["verdict"], g["note"]) for m, g in by_metric.items()}
    assert all(by_metric[m]["trend"] > 0.10 for m in drifting)
    outcome.stdout.fnmatch_lines(["*DRIFTING*story@c8*worse in total across*--perf-fail-on-drift fails it*"])


def test_drifting_fails_the_test_only_when_asked_to() -> None:
    runs = [[100.0 * 1.04**step * (1 + 0.001 * i) for i in range(10)] for step in range(6)]
    current = [100.0 * 1.04**5 * (1 + 0.001 * i) for i in range(10)]
    for fail_on_drift in (False, True):
        against = Comparison(
            runs[-3:],
            higher_is_better=False,
            tolerance=Tolerance(0.10),
            policy=GatePolicy(alpha_suite=0.01, tau_prior=0.05, fail_on_drift=fail_on_drift),
            history=[StoredRun(run) for run in runs],
        )
        verdict = gate_metric("ttft", current, against)
        assert verdict.verdict == "drifting", verdict
        record = SimpleNamespace(
            id="story@c1", result=SimpleNamespace(samples=[], stopped=None), verdicts=[verdict], ab=None
        )
        message = why_failed([record], require_baseline=False)  # type: ignore[list-item]
        assert (message is not None) == fail_on_drift
        if message:
            assert "story@c1: ttft" in message and "DRIFTING" in message


def test_an_underpowered_pass_is_labelled_in_terminal_junit_and_report(suite: pytest.Pytester) -> None:
    noisy = ("--iterations", "4")  # 4 noisy samples against 4: no gate can see 10 % with that
    run(suite, 1.0, *noisy, "--perf-save", jitter=0.3)[0].assert_outcomes(passed=1)
    outcome, results = run(suite, 1.0, *noisy, jitter=0.3)
    outcome.assert_outcomes(passed=1)
    weak = {m: g for m, g in gates(results).items() if g["verdict"] == "underpowered"}
    assert weak, {m: (g["verdict"], g["mde"]) for m, g in gates(results).items()}
    metric, decision = next(iter(weak.items()))
    assert decision["mde"] > decision["tolerance"]
    outcome.stdout.fnmatch_lines(["*UNDERPOWERED*could not have seen a regression*", f"*story@c1: *{metric} *%*>*"])
    properties = {p.get("name"): p.get("value") for p in ET.parse(suite.path / "junit.xml").getroot().iter("property")}
    assert properties[f"perf:story@c1:{metric}"] == "underpowered"
    assert "could not have seen a regression of its own tolerance" in str(properties[f"perf:story@c1:{metric}:why"])
    html = (suite.path / "report.html").read_text()
    assert 'class="verdict v-underpowered">underpowered<' in html
    assert "could not have seen a regression of its own tolerance" in html
