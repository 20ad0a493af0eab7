"""A small perf suite and a session runner shared by the run-history session tests (SQLite and
PostgreSQL): two scenarios, two iterations, the ``fast`` emulator, no report unless asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from perf_sessions import PLUGIN, perf_suite

SCENARIOS = """
scenarios:
  decode_heavy:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 20
    min_completion_tokens: 20
  prompt_only:
    prompt: "What is AI?"
    max_completion_tokens: 2
    min_completion_tokens: 2
"""


def make_suite(pytester: pytest.Pytester) -> None:
    perf_suite(pytester, SCENARIOS)


def run_session(pytester: pytest.Pytester, *extra: str, profile: str = "fast") -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", profile, "--iterations", "2"),
        *("--perf-max-client-lag", "1", "--perf-seed-results", "none"),
        *extra,
    )


def history_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_cerebras_perf.history ARGS`` in ``folder``, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_cerebras_perf.history", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
