"""The report's reasoning section: drawn for a reasoning model, absent for one that does not reason
(whose eight study figures stay as they were), and the e2e cause beside the e2e verdict."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from results_factory import make_results

from pytest_cerebras_perf.report import render_report
from pytest_cerebras_perf.report.charts import REASONING_FIGURES, STUDY_FIGURES

CAUSE = "e2e cause: reasoning length moved (reasoning tokens p50 400 -> 800 tokens (+100.0 %, moved))"


def with_reasoning(results: dict[str, Any]) -> dict[str, Any]:
    """Give every sample reasoning tokens and a TTFO after its TTFT, as a reasoning model's run has."""
    changed = copy.deepcopy(results)
    for entry in changed["scenarios"]:
        for index, sample in enumerate(entry["samples"]):
            if sample["ok"]:
                reasoning = 300 + 10 * index
                sample["usage"]["reasoning_tokens"] = reasoning
                sample["usage"]["content_tokens"] = sample["usage"]["completion_tokens"]
                sample["ttfo"] = sample["ttft"] + reasoning / 3000
        for decision in entry["gate"]:
            if decision["metric"] == "e2e":
                entry["e2e_cause"] = CAUSE
    return changed


def figures(html: str) -> set[str]:
    return set(re.findall(r'<figure data-figure="([a-z0-9-]+)"', html))


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    return make_results(iterations=6, concurrency=(1,))


@pytest.fixture(scope="module")
def html(plain: dict[str, Any]) -> str:
    return render_report(with_reasoning(plain))


def test_reasoning_figures_only_for_a_reasoning_model(plain: dict[str, Any], html: str) -> None:
    without = render_report(plain)
    assert set(STUDY_FIGURES) <= figures(without) and not set(REASONING_FIGURES) & figures(without)
    assert 'id="reasoning"' not in without

    assert set(STUDY_FIGURES) | set(REASONING_FIGURES) <= figures(html)
    section = html[html.index('<section id="reasoning">') :]
    assert "reasoning tokens" in section and "content tokens" in section and "ttfo" in section


def test_the_e2e_cause_sits_beside_the_e2e_verdict(html: str) -> None:
    assert "e2e cause: reasoning length moved" in html.replace("&gt;", ">")
