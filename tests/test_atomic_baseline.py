"""A process killed while it writes a baseline leaves the accepted baseline as it was.

End to end: a real ``--perf-save`` session is SIGKILLed at the last step of the baseline write
(the new text is on disk in a temporary file, the rename has not happened). The unit-level
variants (a failing ``os.replace``, a corrupt file never overwritten) are in test_baselines.py.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from perf_sessions import PLUGIN

from pytest_cerebras_perf.baselines import lock_path

SCENARIOS = "scenarios:\n  short: {prompt: hi, max_completion_tokens: 8, min_completion_tokens: 8}\n"
TEST = """
    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call):
        cerebras_call()
"""
# Loaded by the killed run only: dies the moment the baseline file would be replaced.
KILL_AT_BASELINE_RENAME = """
    import os
    import signal

    _replace = os.replace

    def _die_before_replacing_the_baseline(src, dst, *args, **kwargs):
        if str(dst).endswith("llama-3.3-70b.json") and "baselines" in str(dst):
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(src, dst, *args, **kwargs)

    os.replace = _die_before_replacing_the_baseline
"""


def save_run(pytester: pytest.Pytester, unhurried: tuple[str, ...]) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "fast", "--iterations", "3"),
        *("--perf-report", "none", "--perf-seed-results", "none"),
        *("--perf-json", "results.json", "--perf-baseline-dir", "baselines", "--perf-save"),
        *unhurried,
    )


def runs_in(baseline: Path) -> int:
    return len(json.loads(baseline.read_text())["scenarios"]["short@c1"]["runs"])


def test_a_kill_during_the_baseline_write_leaves_the_old_baseline(
    pytester: pytest.Pytester, unhurried: tuple[str, ...]
) -> None:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    save_run(pytester, unhurried).assert_outcomes(passed=1)
    (baseline,) = (pytester.path / "baselines").rglob("*.json")
    accepted = baseline.read_bytes()

    pytester.makeconftest(KILL_AT_BASELINE_RENAME)
    killed = save_run(pytester, unhurried)
    assert killed.ret == -signal.SIGKILL
    assert baseline.read_bytes() == accepted and runs_in(baseline) == 1
    leftovers = [p for p in baseline.parent.iterdir() if p not in (baseline, lock_path(baseline))]
    assert [p.name.endswith(".tmp") for p in leftovers] == [True]  # the new text never got the real name
    # results are written before baselines, so the killed run's measurements survived too
    assert len(json.loads((pytester.path / "results.json").read_text())["scenarios"][0]["samples"]) == 3

    (pytester.path / "conftest.py").unlink()
    save_run(pytester, unhurried).assert_outcomes(passed=1)  # the leftover temporary file is in nobody's way
    assert runs_in(baseline) == 2
