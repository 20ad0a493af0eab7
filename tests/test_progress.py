"""Live progress: seen without ``-s``, counted as requests finish, never in a test's captured output."""

from __future__ import annotations

import re

import pytest
from perf_sessions import PLUGIN

from pytest_cerebras_perf.progress import progress_line

SCENARIOS = """
scenarios:
  short:
    prompt: "What is AI?"
    max_completion_tokens: 8
    min_completion_tokens: 8
"""
# every request waits 0.7 s for its first token: 8 requests take over 5 s
SLOW = "base: fast\nttft_base: 0.7\n"
TEST = """
import pytest

@pytest.mark.scenario
def test_latency(cerebras_call):
    print("the test's own output")
    cerebras_call()
    assert False, "fails on purpose"
"""
COMMON = (*PLUGIN, "--perf-report", "none", "--perf-seed-results", "none")
PROGRESS = re.compile(r"short@c1: (\d+)/8 requests, (\d+) errors, [\d.]+ s elapsed")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", scenarios=SCENARIOS, slow=SLOW)
    pytester.makepyfile(test_perf=TEST)
    return pytester


def test_progress_reaches_the_terminal_not_the_captured_output(suite: pytest.Pytester) -> None:
    outcome = suite.runpytest_subprocess(
        *COMMON, "--perf-emulator-profile", "slow.yaml", "--iterations", "8", "--warmup", "0", "--perf-progress", "1"
    )
    outcome.assert_outcomes(failed=1)
    text = outcome.stdout.str()
    before, captured = text.split("Captured stdout call", 1)
    counts = [int(done) for done, _ in PROGRESS.findall(before)]
    started = [c for c in counts if c > 0]
    assert len(started) >= 2 and started == sorted(started) and started[-1] > started[0], counts
    assert "the test's own output" in captured  # capturing was on, and the progress bypassed it
    assert not PROGRESS.search(captured)


def test_quiet_runs_show_no_progress(suite: pytest.Pytester) -> None:
    outcome = suite.runpytest_subprocess(
        *COMMON, "--perf-emulator-profile", "fast", "--iterations", "3", "--perf-progress", "0.001", "-q"
    )
    outcome.assert_outcomes(failed=1)
    assert "requests, 0 errors" not in outcome.stdout.str()


def test_progress_line_has_an_eta_once_a_request_finished() -> None:
    assert progress_line("s@c1", 0, 0, 10, 1.0) == "    s@c1: 0/10 requests, 0 errors, 1.0 s elapsed"
    assert progress_line("s@c1", 4, 1, 10, 2.0).endswith("4/10 requests, 1 errors, 2.0 s elapsed, ETA 3.0 s")
