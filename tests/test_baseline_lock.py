"""Two runs saving baselines at the same moment: both accepted runs are in the file afterwards."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

from pytest_cerebras_perf.baselines import BaselineRun, baseline_path, save_runs

TARGET = {"kind": "emulator", "key": "emulator"}
MODEL = "llama3.1-8b"
TRIALS = 6


def _run(name: str) -> BaselineRun:
    return BaselineRun(
        run_id=name,
        accepted="2025-01-01T12:00:00+00:00",
        commit=None,
        iterations=3,
        samples={"ttft": [0.1, 0.2, 0.3]},
        error_rate=0.0,
        max_completion_tokens=8,
        plugin_version="0.1.0",
    )


def _save_in_step(path: Path, who: str, barrier: Any) -> None:
    for trial in range(TRIALS):
        barrier.wait()  # both processes read-modify-write the same file at once
        scenario = f"{who}-{trial}@c1"
        save_runs(path, target=TARGET, model=MODEL, runs={scenario: _run(scenario)}, tolerances={})


def test_two_processes_saving_at_once_lose_no_accepted_run(tmp_path: Path) -> None:
    path = baseline_path(tmp_path / "baselines", "emulator", MODEL)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    savers = [context.Process(target=_save_in_step, args=(path, who, barrier)) for who in ("a", "b")]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join(timeout=120)
        assert saver.exitcode == 0
    saved = json.loads(path.read_text())["scenarios"]
    assert sorted(saved) == sorted(f"{who}-{trial}@c1" for who in ("a", "b") for trial in range(TRIALS))
