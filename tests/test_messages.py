"""Failure messages: a first line that survives truncation, a plain paragraph, the statistics last."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from present import present
from test_gate import POLICY, TEN_PERCENT, gate, lognormal, runs

from pytest_cerebras_perf.gate import Comparison, Verdict, confirm, gate_error_rate
from pytest_cerebras_perf.load import LoadResult
from pytest_cerebras_perf.messages import HEADLINE_WIDTH, why_failed
from pytest_cerebras_perf.metrics import Sample, SampleError
from pytest_cerebras_perf.records import ScenarioRecord
from pytest_cerebras_perf.report.units import format_confidence
from pytest_cerebras_perf.scenarios import build_scenario

SCENARIO = build_scenario("long_prompt", {"prompt": "hi"}, where="test", base=Path("."))


def record(verdicts: list[Verdict], samples: list[Sample] | None = None, concurrency: int = 1) -> ScenarioRecord:
    return ScenarioRecord(SCENARIO, concurrency, "t.py::t", {}, LoadResult(samples=samples or []), verdicts=verdicts)


def confirmed(ratio: float, *, metric: str = "e2e", higher_is_better: bool = False) -> Verdict:
    baseline = runs(median=0.400)
    current = lognormal(10, median=0.400, ratio=ratio, seed=1)
    stage1 = gate(current, baseline, metric=metric, higher_is_better=higher_is_better)
    assert stage1.verdict == "regression"
    against = Comparison(baseline, higher_is_better=higher_is_better, tolerance=TEN_PERCENT, policy=POLICY)
    return confirm(stage1, current + lognormal(10, median=0.400, ratio=ratio, seed=2), against)


def test_first_line_names_metric_and_change_and_fits_80_columns() -> None:
    latency, throughput = confirmed(1.5), confirmed(0.6, metric="output_tps", higher_is_better=True)
    message = why_failed([record([latency, throughput])], require_baseline=False)
    assert message is not None
    first = message.splitlines()[0]
    e2e, tps = present(latency.ratio) - 1, present(throughput.ratio) - 1
    assert first == f"e2e {e2e * 100:+.1f} %, output_tps {tps * 100:+.1f} % vs baseline"
    assert len(first) <= HEADLINE_WIDTH and first.startswith("e2e +") and "output_tps -" in first


def test_paragraph_is_plain_and_the_statistics_come_last() -> None:
    final = confirmed(1.5)
    message = why_failed([record([final])], require_baseline=False)
    assert message is not None
    _, paragraph, detail = message.splitlines()
    assert paragraph.startswith("long_prompt@c1: e2e (end-to-end latency) regressed.")
    assert f"from {1000 * final.baseline_p50:.1f} ms in the baseline" in paragraph  # type: ignore[operator]
    assert f"With {format_confidence(final.alpha)} confidence the change is at least +" in paragraph  # type: ignore[arg-type]
    assert "This gate could see a change of" in paragraph
    for jargon in ("Hodges", "τ", "stage", "p ="):
        assert jargon not in paragraph, jargon
    assert detail.startswith("Detail: Hodges–Lehmann ratio") and "stage 2" in detail and "stage 1 saw +" in detail


def test_no_confidence_level_prints_as_100_percent() -> None:
    assert format_confidence(0.05) == "95 %"
    assert format_confidence(0.01 / 16) == "99.9 %"
    assert format_confidence(0.0005) == "99.95 %"
    assert format_confidence(1e-7) == "99.99999 %"
    final = confirmed(1.5)
    assert "100 %" not in (why_failed([record([final])], require_baseline=False) or "")


def test_headline_counts_what_does_not_fit() -> None:
    verdicts = [confirmed(1.5, metric=m) for m in ("ttfb", "ttft", "e2e", "decode_time", "network_overhead", "tpot")]
    first = (why_failed([record(verdicts)], require_baseline=False) or "").splitlines()[0]
    assert len(first) <= HEADLINE_WIDTH and first.endswith("more vs baseline") and first.startswith("ttfb +")


def test_error_rate_regression_and_an_outage_and_a_missing_baseline() -> None:
    rate = gate_error_rate(4, 10, [0.0, 0.0, 0.0])
    message = why_failed([record([rate])], require_baseline=False) or ""
    assert message.splitlines()[0] == "error_rate 40.0 % vs baseline"
    assert "4/10 requests failed (40.0 %) vs 0.0 % in the baseline" in message
    failed = [Sample(ok=False, error=SampleError("server_error", 500, "Internal server error"))] * 3
    outage = why_failed([record([], failed)], require_baseline=False) or ""
    assert outage.splitlines()[0] == "all 3 requests failed"
    assert "3x server_error 500 (Internal server error)" in outage
    missing = [gate_error_rate(1, 10, []), replace(gate_error_rate(1, 10, []), metric="ttft")]
    assert why_failed([record(missing)], require_baseline=False) is None
    assert (why_failed([record(missing)], require_baseline=True) or "").splitlines() == [
        "no baseline for error_rate, ttft",
        "long_prompt@c1: error_rate, ttft: no baseline (--perf-require-baseline); accept one with --perf-save",
    ]
