"""``python -m pytest_cerebras_perf.compare A.json B.json``: two saved runs through the baseline gate.

Three real sessions against one emulator: A, B unchanged, and B with one scenario's decode 30 %
slower (an emulator slowdown rule matching its prompt). Unchanged exits 0; slower exits 1 and the
terminal and the report name that scenario and metric, and only that scenario.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from perf_sessions import perf_session, perf_suite

from pytest_cerebras_perf.compare import main
from pytest_cerebras_perf.emulator import EmulatorProcess

API_KEY = "emu-compare-key"
# what a 30 % slower decode of the robot story can regress (the others must not)
DECODE_METRICS = ("decode_heavy@c1 e2e:", "decode_heavy@c1 output_tps:", "decode_heavy@c1 server_total:")
SCENARIOS = """
scenarios:
  decode_heavy:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 100
    min_completion_tokens: 100
  short_answer:
    prompt: "What is AI?"
    max_completion_tokens: 100
    min_completion_tokens: 100
"""


def run(pytester: pytest.Pytester, url: str, name: str) -> Path:
    results = pytester.path / f"{name}.json"
    outcome, _ = perf_session(pytester, results, "--perf-base-url", url, "--iterations", "10", max_client_lag=0.05)
    outcome.assert_outcomes(passed=2)
    return results


def compare(a: Path, b: Path, report: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_cerebras_perf.compare", str(a), str(b), "-o", str(report)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_unchanged_passes_and_a_slower_scenario_fails_by_name(
    pytester: pytest.Pytester, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEREBRAS_API_KEY", API_KEY)
    perf_suite(pytester, SCENARIOS)
    emulator.set_profile({"ttft_base": 0.005, "decode_tps": 2000, "jitter_sigma": 0.03})
    a = run(pytester, emulator.url, "a")
    b = run(pytester, emulator.url, "b")
    emulator.set_profile({"slowdowns": [{"match": "robot", "decode": 1.3}]})
    slower = run(pytester, emulator.url, "slower")

    same = compare(a, b, pytester.path / "same.html")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "REGRESSION" not in same.stdout

    done = compare(a, slower, pytester.path / "slower.html")
    assert done.returncode == 1, done.stdout + done.stderr
    flagged = [line for line in done.stdout.splitlines() if line.endswith("REGRESSION")]
    assert flagged and all(line.strip().startswith(DECODE_METRICS) for line in flagged), done.stdout
    report = (pytester.path / "slower.html").read_text()
    rows = re.findall(r'<tr class="row-regression">(.*?)</tr>', report, flags=re.S)
    named = [metric for row in rows for metric in ("e2e", "output_tps", "server_total") if f">{metric}<" in row]
    assert rows and all("decode_heavy@c1" in row for row in rows) and len(named) == len(rows)
    assert "COMPARE" in report and "A p50" in report


def test_bad_input_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema": "something else"}))
    assert main([str(broken), str(broken)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {broken}: schema is") and "\n" not in error
