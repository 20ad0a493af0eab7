"""The report's reasoning section: drawn for a reasoning model, absent for one that does not reason
(whose eight study figures stay as they were), and the e2e cause beside the e2e verdict."""

from __future__ import annotations

import copy
import re

import pytest
from present import present
from results_factory import make_results

from pytest_cerebras_perf.report import render_report
from pytest_cerebras_perf.report.charts import REASONING_FIGURES, STUDY_FIGURES
from pytest_cerebras_perf.results_doc import ResultsDoc

CAUSE = "e2e cause: reasoning length moved (reasoning tokens p50 400 -> 800 tokens (+100.0 %, moved))"


def with_reasoning(results: ResultsDoc) -> ResultsDoc:
    """Give every sample reasoning tokens and a TTFO after its TTFT, as a reasoning model's run has."""
    changed = copy.deepcopy(results)
    for entry in changed["scenarios"]:
        for index, sample in enumerate(entry["samples"]):
            usage = sample["usage"]
            if sample["ok"] and usage is not None:
                reasoning = 300 + 10 * index
                usage["reasoning_tokens"] = reasoning
                usage["content_tokens"] = usage["completion_tokens"]
                sample["ttfo"] = present(sample["ttft"]) + reasoning / 3000
        for decision in entry["gate"]:
            if decision["metric"] == "e2e":
                entry["e2e_cause"] = CAUSE
    return changed


def figures(html: str) -> set[str]:
    return set(re.findall(r'<figure data-figure="([a-z0-9-]+)"', html))


@pytest.fixture(scope="module")
def plain() -> ResultsDoc:
    return make_results(iterations=6, concurrency=(1,))


@pytest.fixture(scope="module")
def html(plain: ResultsDoc) -> str:
    return render_report(with_reasoning(plain))


def test_reasoning_figures_only_for_a_reasoning_model(plain: ResultsDoc, html: str) -> None:
    without = render_report(plain)
    assert set(STUDY_FIGURES) <= figures(without) and not set(REASONING_FIGURES) & figures(without)
    assert 'id="reasoning"' not in without

    assert set(STUDY_FIGURES) | set(REASONING_FIGURES) <= figures(html)
    section = html[html.index('<section id="reasoning">') :]
    assert "reasoning tokens" in section and "content tokens" in section and "ttfo" in section


def test_the_e2e_cause_sits_beside_the_e2e_verdict(html: str) -> None:
    assert "e2e cause: reasoning length moved" in html.replace("&gt;", ">")
