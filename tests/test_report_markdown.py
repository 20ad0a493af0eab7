"""The Markdown CI summary and its append to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from pathlib import Path

from present import present
from results_factory import make_results

from pytest_cerebras_perf.report.markdown import append_step_summary, markdown_summary


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Scenario")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_table_has_one_row_per_gate_decision_worst_first() -> None:
    results = make_results(iterations=5, concurrency=(1, 4))
    rows = _table_rows(markdown_summary(results))
    assert len(rows) == sum(len(s["gate"]) for s in results["scenarios"])
    assert rows[0][:3] == ["short_input_short_output@c1", "ttft", "❌ regression (stage 2)"]
    assert rows[1][2] == "⚠️ inconclusive (stage 2)"
    assert rows[2][2] == "🚀 improvement"
    assert all(len(row) == 8 for row in rows)


def test_row_values_are_formatted_for_people() -> None:
    results = make_results(iterations=5)
    decision = results["scenarios"][0]["gate"][0]
    row = _table_rows(markdown_summary(results))[0]
    assert row[3] == f"{present(decision['baseline_p50']) * 1000:.1f} ms"
    assert row[4] == f"{present(decision['current_p50']) * 1000:.1f} ms"
    assert row[5] == f"{(present(decision['ratio']) - 1) * 100:+.1f} %"
    assert row[6] == f"{(present(decision['ratio_bound']) - 1) * 100:+.1f} %"
    assert row[7] == "14.0 %"


def test_headline_counts_verdicts_and_names_the_target() -> None:
    text = markdown_summary(make_results(iterations=5))
    headline = text.splitlines()[2]
    assert "❌ 1 regression" in headline and "🚀 1 improvement" in headline and "⚠️ 1 inconclusive" in headline
    assert "llama-3.3-70b on EMULATOR" in headline
    assert "> **EMULATOR**" in text


def test_partial_runs_say_so() -> None:
    text = markdown_summary(make_results(iterations=3, partial=True))
    assert "> **PARTIAL RUN**: daily token quota exhausted" in text


def test_cells_cannot_inject_markup_or_break_the_table() -> None:
    results = make_results(iterations=3)
    results["scenarios"][-1]["id"] = "odd|<b>name</b>"
    text = markdown_summary(results)
    assert "<b>" not in text
    assert "odd\\|&lt;b&gt;name&lt;/b&gt;" in text
    assert all(len(row) == 8 for row in _table_rows(text))


def test_a_run_without_gates_says_so() -> None:
    results = make_results(iterations=3, edge_cases=False)
    for scenario in results["scenarios"]:
        scenario["gate"] = []
    assert "No metric was gated in this run." in markdown_summary(results)


def test_step_summary_is_appended_when_the_variable_is_set(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step output", encoding="utf-8")
    results = make_results(iterations=3)
    assert append_step_summary(results, {"GITHUB_STEP_SUMMARY": str(summary)}) is True
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step output\n### Inference performance")
    assert text.endswith(markdown_summary(results))


def test_step_summary_is_skipped_without_the_variable(tmp_path: Path) -> None:
    assert append_step_summary(make_results(iterations=3), {}) is False
    assert list(tmp_path.iterdir()) == []
