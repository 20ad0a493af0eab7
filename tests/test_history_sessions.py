"""The run history from real sessions on SQLite: every session appends (also under ``-n 2``), a
broken database costs one line and nothing else, and a change point reaches the terminal and the
report (the first run measured, ten written through the writer, the twelfth measured slower)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from history_sessions import history_cli, make_suite, run_session

from pytest_cerebras_perf.history.entries import run_entry
from pytest_cerebras_perf.history.store import HistoryStore
from pytest_cerebras_perf.results_doc import ResultsDoc

DB = Path("baselines") / "perf-history.sqlite"


def test_three_sessions_append_three_runs_and_list_shows_them(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    run_session(pytester, "--perf-report", "none").assert_outcomes(passed=2)
    run_session(pytester, "--perf-report", "none", "-n", "2").assert_outcomes(passed=2)
    run_session(pytester, "--perf-report", "none", "-k", "prompt_only").assert_outcomes(passed=1)
    listed = history_cli(pytester.path, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert [row[-1] for row in rows] == ["2", "2", "1"]  # -n 2: both workers' scenario runs in one run
    with HistoryStore.open(f"sqlite:///{pytester.path / DB}") as store:
        assert len(list(store.summary_rows())) >= 5 * 8  # every metric of 5 scenario runs


def test_a_corrupt_history_is_one_line_and_the_other_files_are_written(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    (pytester.path / DB).parent.mkdir()
    (pytester.path / DB).write_bytes(b"garbage " * 512)
    outcome = run_session(pytester, "--perf-json", "results.json", "--perf-report", "report.html")
    outcome.assert_outcomes(passed=2)
    lines = [line for line in outcome.outlines if "run history" in line]
    assert lines == [f"cerebras-perf: run history NOT written: {pytester.path / DB}: file is not a database"]
    assert json.loads((pytester.path / "results.json").read_text())["scenarios"]
    assert (pytester.path / "report.html").stat().st_size > 10_000
    assert (pytester.path / DB).read_bytes() == b"garbage " * 512  # nothing written over it


PROFILE = "base: fast\nttft_base: 0.002\ndecode_tps: {decode}\n"
# the synthetic runs model e2e only; 5 requests a run so that one run's centre is steady
ONLY_E2E = ("-k", "decode_heavy", "--perf-gate-metrics", "e2e", "--iterations", "5")
DECODE_TPS = 100  # 20 tokens: 200 ms of decoding, so a busy machine's client jitter is a few percent of it


def _synthetic(first: ResultsDoc, run: int, step: float, rng: np.random.Generator) -> ResultsDoc:
    """Run ``run`` made from the first measured run: its decode time (e2e − ttft) times ``step``,
    times a session drift of 1 %."""
    doc: ResultsDoc = json.loads(json.dumps(first))
    doc["run"]["id"] = f"synthetic-{run:02d}"
    drift = float(rng.lognormal(0.0, 0.01))
    for scenario in doc["scenarios"]:
        for sample in scenario["samples"]:
            ttft, e2e = sample["ttft"], sample["e2e"]
            if sample["ok"] and ttft is not None and e2e is not None:
                sample["e2e"] = (ttft + step * (e2e - ttft)) * drift
    return doc


def test_a_step_from_run_7_is_shifted_in_the_terminal_and_the_report(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    for name, decode in (("base", DECODE_TPS), ("slow", round(DECODE_TPS / 1.15, 2))):
        (pytester.path / f"{name}.yaml").write_text(PROFILE.format(decode=decode))
    first = run_session(
        pytester,
        *ONLY_E2E,
        "--perf-json",
        "first.json",
        "--perf-report",
        "none",
        profile=str(pytester.path / "base.yaml"),
    )
    first.assert_outcomes(passed=1)
    measured = json.loads((pytester.path / "first.json").read_text())
    rng = np.random.default_rng(7)
    with HistoryStore.open(f"sqlite:///{pytester.path / DB}") as store:
        for run in range(2, 12):
            store.append(run_entry(_synthetic(measured, run, 1.15 if run >= 7 else 1.0, rng)))

    outcome = run_session(
        pytester,
        *ONLY_E2E,
        "--perf-report",
        "report.html",
        "--perf-fail-on-shift",
        profile=str(pytester.path / "slow.yaml"),
    )
    outcome.assert_outcomes(failed=1)
    text = outcome.stdout.str()
    shifted = re.search(r"SHIFTED\s+decode_heavy@c1 since run (synthetic-\d\d) on \S+, e2e \+(\d+)", text)
    assert shifted is not None, text
    assert shifted.group(1) in ("synthetic-06", "synthetic-07", "synthetic-08")
    assert 8 <= int(shifted.group(2)) <= 20
    assert "e2e SHIFTED since run" in text  # the failure names it (--perf-fail-on-shift)
    report = (pytester.path / "report.html").read_text()
    assert 'data-figure="trend-e2e"' in report and f"shifted since run {shifted.group(1)}" in report
