"""The sentence behind an underpowered or drifting verdict, and where it is shown (report, CI summary, terminal)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from results_factory import make_results

from pytest_cerebras_perf.caveats import NO_ITERATIONS_CAN, caveat
from pytest_cerebras_perf.gate import Verdict
from pytest_cerebras_perf.report import render_report
from pytest_cerebras_perf.report.markdown import markdown_summary
from pytest_cerebras_perf.results_doc import GateDoc, ResultsDoc
from pytest_cerebras_perf.terminal import underpowered_block

BASE = Verdict(metric="ttft", verdict="pass", higher_is_better=False).to_json()
UNDERPOWERED: GateDoc = {**BASE, "verdict": "underpowered", "mde": 0.182, "tolerance": 0.15, "iterations_needed": 36}
DRIFTING: GateDoc = {**BASE, "verdict": "drifting", "trend": 0.24, "trend_runs": 7, "trend_p_value": 0.0021}


def test_underpowered_names_mde_tolerance_and_the_iterations_that_would_do() -> None:
    text = caveat(UNDERPOWERED, concurrency=4)
    assert "MDE 18.2 % > tolerance 15.0 %" in text
    assert "--iterations 9 would" in text  # 36 requests at concurrency 4
    assert "--iterations 36 would" in caveat(UNDERPOWERED)
    hopeless = caveat({**UNDERPOWERED, "iterations_needed": None})
    assert "no --iterations can" in hopeless and "baseline runs" in hopeless


def test_drifting_gives_the_total_change_and_whether_it_fails() -> None:
    text = caveat(DRIFTING)
    assert "+24.0 % worse in total across 7 runs" in text and "p = 0.0021" in text
    assert text.endswith("--perf-fail-on-drift fails it")
    assert caveat({**DRIFTING, "fails": True}).endswith("fails the test (--perf-fail-on-drift)")


def test_other_verdicts_need_no_caveat() -> None:
    for verdict in ("pass", "regression", "improvement", "inconclusive", "no-baseline", "not-gated"):
        assert caveat({**BASE, "verdict": verdict, "mde": 0.5, "tolerance": 0.1}) == ""


def _with(results: ResultsDoc, decision: GateDoc) -> ResultsDoc:
    gate = results["scenarios"][1]["gate"]
    gate[0] = {**gate[0], **decision}
    return results


def test_report_and_ci_summary_label_underpowered_and_drifting() -> None:
    results = _with(make_results(iterations=4, edge_cases=False), UNDERPOWERED)
    results["scenarios"][2]["gate"][0].update(DRIFTING)
    html = render_report(results)
    assert 'class="verdict v-underpowered">underpowered<' in html
    assert 'class="verdict v-drifting">drifting<' in html
    assert "--iterations 36 would bring it under" in html and "+24.0 % worse in total" in html
    summary = markdown_summary(results)
    assert "🔍 underpowered" in summary and "📉 drifting" in summary


def _underpowered(metric: str, mde: float, needed: int | None) -> Verdict:
    return Verdict(
        metric=metric,
        verdict="underpowered",
        stage=1,
        baseline_p50=0.2,
        current_p50=0.2,
        ratio=1.0,
        ratio_bound=0.97,
        tolerance=0.10,
        p_value=0.5,
        mde=mde,
        tau=0.05,
        tau_source="history",
        n=10,
        m=30,
        higher_is_better=False,
        iterations_needed=needed,
    )


def test_the_terminal_groups_underpowered_passes_by_remedy() -> None:
    """Sixteen underpowered gates of one cause are one line, not sixteen copies of one sentence."""
    drift = [
        SimpleNamespace(id=f"s{i}@c1", concurrency=1, verdicts=[_underpowered("ttft", 0.2, None)]) for i in range(4)
    ]
    fewer = SimpleNamespace(
        id="long@c4", concurrency=4, verdicts=[_underpowered("e2e", 0.12, 36), _underpowered("tpot", 0.11, 20)]
    )
    passed = SimpleNamespace(
        id="ok@c1", concurrency=1, verdicts=[replace(_underpowered("e2e", 0.05, 4), verdict="pass")]
    )
    lines = underpowered_block([*drift, fewer, passed])  # type: ignore[list-item]
    assert "UNDERPOWERED" in lines[0] and "6 passes" in lines[0]
    assert lines[1:] == [
        "    more iterations would do:",
        "      long@c4: e2e 12.0 % > 10.0 % (--iterations 9), tpot 11.0 % > 10.0 % (--iterations 5)",
        f"    {NO_ITERATIONS_CAN}:",
        *(f"      s{i}@c1: ttft 20.0 % > 10.0 %" for i in range(4)),
    ]
    assert underpowered_block([passed]) == []  # type: ignore[list-item]
