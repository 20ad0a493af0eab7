"""The HTML report rendered from a realistic results dict: content, escaping, self-containment."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from present import present
from results_factory import MARKUP_SCENARIO, XSS_CONTENT, make_results

from pytest_cerebras_perf.report import render_report, write_report
from pytest_cerebras_perf.report.charts import STUDY_FIGURES
from pytest_cerebras_perf.results_doc import ResultsDoc

GATED = ("ttft", "e2e", "output_tps", "server_total")


@pytest.fixture(scope="module")
def results() -> ResultsDoc:
    return make_results(iterations=8, concurrency=(1, 4))


@pytest.fixture(scope="module")
def html(results: ResultsDoc) -> str:
    return render_report(results)


def _figure(html: str, key: str) -> str:
    match = re.search(rf'<figure data-figure="{re.escape(key)}".*?</figure>', html, re.S)
    assert match, f"figure {key!r} missing"
    return match.group(0)


def test_every_study_figure_is_an_inline_svg(html: str) -> None:
    for key in STUDY_FIGURES:
        figure = _figure(html, key)
        assert "<svg" in figure and "</svg>" in figure
        assert figure.count("<path") > 20, f"figure {key!r} looks empty"


def test_baseline_figures_for_every_gated_metric_and_the_concurrency_trade_off(html: str) -> None:
    for metric in GATED:
        assert "<svg" in _figure(html, f"baseline-{metric}")
    assert "<svg" in _figure(html, "concurrency")


def test_concurrency_trade_off_needs_more_than_one_level() -> None:
    assert 'data-figure="concurrency"' not in render_report(make_results(iterations=4, concurrency=(1,)))


def test_model_output_and_scenario_markup_are_text_not_html(html: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS_CONTENT not in html
    assert re.search(r"<script", html, re.I) is None
    assert "third_party_&lt;b&gt;endpoint&lt;/b&gt;" in html
    assert MARKUP_SCENARIO not in html


def test_nothing_is_fetched_from_outside_the_file(html: str) -> None:
    references = re.findall(r'\b(?:src|href|xlink:href)\s*=\s*"([^"]*)"', html)
    assert references, "expected internal SVG references"
    assert all(ref.startswith(("#", "data:")) for ref in references), set(references)
    assert "<link" not in html and "@import" not in html and "url(http" not in html


def test_svg_ids_are_unique_across_the_document(html: str) -> None:
    # matplotlib reuses glyph and clip ids in every figure; unprefixed, the second SVG would draw the first's.
    duplicates = [i for i, n in Counter(re.findall(r'\bid="([^"]+)"', html)).items() if n > 1]
    assert duplicates == []


def test_emulator_banner_only_for_the_emulator() -> None:
    emulator = render_report(make_results(iterations=3, target_kind="emulator"))
    cloud = render_report(make_results(iterations=3, target_kind="cloud"))
    assert 'data-banner="emulator"' in emulator and "EMULATOR" in emulator
    assert 'data-banner="emulator"' not in cloud


def test_partial_run_banner_gives_the_reason() -> None:
    html = render_report(make_results(iterations=3, partial=True))
    banner = re.search(r'data-banner="partial".*?</div>', html, re.S)
    assert banner and "daily token quota exhausted" in banner.group(0)


def test_verdict_table_shows_change_bound_mde_and_both_stages(html: str, results: ResultsDoc) -> None:
    table = re.search(r'<table class="matrix" data-table="verdicts">.*?</table>', html, re.S)
    assert table
    regression = re.search(r'<td class="cell c-regression".*?</td>', table.group(0), re.S)
    assert regression
    decision = next(g for g in results["scenarios"][0]["gate"] if g["verdict"] == "regression")
    change = f"{(present(decision['ratio']) - 1) * 100:+.1f} %"
    bound = f"{(present(decision['ratio_bound']) - 1) * 100:+.1f} %"
    text = regression.group(0)
    assert change in text and f"bound {bound}" in text
    assert "MDE 14.0 %" in text and "stage 2" in text and "stage 1: regression" in text
    assert table.group(0).count('data-verdict="improvement"') == 1
    assert table.group(0).count('data-verdict="inconclusive"') == 1


def test_tokens_per_second_falling_reads_as_a_negative_change() -> None:
    results = make_results(iterations=4, edge_cases=False)
    decision = next(g for g in results["scenarios"][0]["gate"] if g["metric"] == "output_tps")
    decision.update({"verdict": "regression", "ratio": 0.7, "ratio_bound": 0.8})
    html = render_report(results)
    assert "-30.0 %" in html and "bound -20.0 %" in html


def test_times_show_in_milliseconds(html: str, results: ResultsDoc) -> None:
    p50 = present(results["scenarios"][0]["summary"]["ttft"]).p50
    assert f"{p50 * 1000:.1f} ms" in html


def test_missing_server_times_are_reported_as_such_not_as_zero(html: str) -> None:
    assert "server times not reported by this endpoint" in html
    assert "not reported by this endpoint" in html
    # matplotlib keeps each drawn text as an SVG comment: the charts say it where the box would be.
    assert "<!-- not reported -->" in _figure(html, "latency")
    assert "<!-- not reported -->" in _figure(html, "server-components")


def test_errors_are_tabulated_with_kind_status_and_message(html: str) -> None:
    errors = re.search(r'<section id="errors">.*?</section>', html, re.S)
    assert errors
    assert "rate_limit" in errors.group(0) and ">429<" in errors.group(0)
    assert "Requests per minute limit exceeded" in errors.group(0)


def test_client_saturation_is_warned(html: str) -> None:
    assert "the client was saturated" in html


def test_prompts_and_outputs_sit_in_collapsible_sections(html: str) -> None:
    details = re.findall(r"<details data-scenario>.*?</details>", html, re.S)
    assert len(details) == len(make_results(iterations=8, concurrency=(1, 4))["scenarios"])
    assert "What is AI?" in details[0]


def test_a_run_without_scenarios_still_renders() -> None:
    results = make_results(iterations=2)
    results["scenarios"] = []
    html = render_report(results)
    assert "No scenario ran." in html and "No metric was gated" in html


def test_a_scenario_whose_every_request_failed_still_renders() -> None:
    results = make_results(iterations=3, edge_cases=False)
    scenario = results["scenarios"][0]
    for sample in scenario["samples"]:
        sample.update({"ok": False, "error": {"kind": "timeout", "status": None, "message": "read timed out"}})
    scenario["summary"] = {}
    html = render_report(results)
    assert "read timed out" in html
    assert all(f'data-figure="{key}"' in html for key in STUDY_FIGURES)


def test_write_report_writes_the_rendered_file(tmp_path: Path, results: ResultsDoc) -> None:
    path = write_report(results, tmp_path / "nested" / "report.html")
    assert path == tmp_path / "nested" / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")
