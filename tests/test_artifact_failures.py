"""Files are written independently: a path that cannot be written costs only that file, reported in
one line naming it (terminal summary and warning), the exit status stays what the tests decided, and
an asked-for baseline save still happens.
"""

from __future__ import annotations

import json

import pytest
from perf_sessions import PLUGIN

from pytest_cerebras_perf.emulator import EmulatorProcess

SCENARIOS = """
scenarios:
  steady: {prompt: "What is AI?", max_completion_tokens: 8, min_completion_tokens: 8}
"""
TEST = """
    import pytest

    @pytest.mark.scenario("steady")
    def test_latency(cerebras_call):
        cerebras_call()
"""


def test_unwritable_results_and_report_paths_cost_only_those_files(
    pytester: pytest.Pytester, emulator: EmulatorProcess
) -> None:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    (pytester.path / "blocker").write_text("a file where a folder should be\n")  # root ignores permissions
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--iterations", "2", "--warmup", "0"),
        *("--perf-target", "url", "--perf-base-url", emulator.url),
        *("--perf-json", "blocker/results.json", "--perf-report", "blocker/report.html"),
        *("--perf-benchmark-json", "bench.json", "--perf-seed-results", "none"),
        *("--perf-baseline-dir", "baselines", "--perf-save"),
    )
    assert outcome.ret == pytest.ExitCode.OK
    outcome.assert_outcomes(passed=1, warnings=2)
    outcome.stdout.fnmatch_lines(
        [
            "cerebras-perf: results (*blocker/results.json) NOT written: *File exists*blocker*",
            "cerebras-perf: report (*blocker/report.html) NOT written: *File exists*blocker*",
        ]
    )
    outcome.stdout.fnmatch_lines(["*warnings summary*", "*ArtifactWarning: cerebras-perf: results (*NOT written*"])
    text = outcome.stdout.str() + outcome.stderr.str()
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert json.loads((pytester.path / "bench.json").read_text())["benchmarks"]
    saved = list((pytester.path / "baselines").rglob("*.json"))
    assert len(saved) == 1 and "steady@c1" in json.loads(saved[0].read_text())["scenarios"]
