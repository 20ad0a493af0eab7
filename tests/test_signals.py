"""SIGTERM (what ``timeout``, GitLab, Jenkins and Kubernetes send) and SIGINT in the middle of a run,
serial, under pytest-xdist and with client processes: every request the emulator completed is a
sample in the partial results (but those in flight at the signal), no baseline is accepted, no
process of the run is alive 2 s after pytest exits, and no request reaches the emulator after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from perf_sessions import PLUGIN, session_files
from processes import alive, background_pytest, descendants, wait_for

from pytest_cerebras_perf.emulator import EmulatorProcess

API_KEY = "signals-test-key"
CONCURRENCY = 2
SCENARIOS = """
scenarios:
  quick: {prompt: hi, max_completion_tokens: 4, min_completion_tokens: 4}
  slow: {prompt: hi, max_completion_tokens: 40, min_completion_tokens: 40}
"""
TEST = """
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call, request):
        (Path(os.environ["STARTED_DIR"]) / request.node.callspec.id).touch()
        cerebras_call()
"""
#: after the run's processes are gone, how long a request they sent may still take to be recorded
STRAGGLER_S = 0.3
MODES = {"serial": [], "xdist": ["-n", "2"], "perf-workers": ["--perf-workers", "2"]}
CASES = [
    pytest.param(signal.SIGTERM, "serial", id="SIGTERM-serial"),
    pytest.param(signal.SIGTERM, "xdist", id="SIGTERM-xdist"),
    pytest.param(signal.SIGTERM, "perf-workers", id="SIGTERM-perf-workers"),
    pytest.param(signal.SIGINT, "xdist", id="SIGINT-xdist"),  # serial SIGINT: test_interrupt.py
    pytest.param(signal.SIGINT, "perf-workers", id="SIGINT-perf-workers"),
]


def signal_mid_run(
    pytester: pytest.Pytester, emulator: EmulatorProcess, signum: signal.Signals, mode: str
) -> tuple[subprocess.Popen[str], str, set[int], int]:
    """Start a run, signal pytest in the middle of the slow scenario; the process, its output, the
    processes it had started and when it exited (the emulator's clock)."""
    emulator.set_profile({"decode_tps": 400.0})  # a "slow" request takes 0.1 s: 100 iterations, 5 s per slot
    emulator.reset()
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    started = pytester.mkdir("started")
    out = pytester.path / "out"
    with background_pytest(
        *PLUGIN,
        *("--perf-base-url", emulator.url, "--iterations", "100", "--warmup", "0"),
        *("--concurrency", str(CONCURRENCY), "--perf-no-gate", "--perf-save"),
        *session_files(out),
        *MODES[mode],
        cwd=pytester.path,
        env={**os.environ, "STARTED_DIR": str(started), "CEREBRAS_API_KEY": API_KEY},
    ) as process:
        wait_for(lambda: (started / "slow").exists(), 90, "the slow scenario to start")

        def slow_done() -> int:
            return sum(1 for r in emulator.truth() if r["completion_tokens"] == 40)

        wait_for(lambda: slow_done() >= 10, 30, "the slow scenario's first requests")
        children = descendants(process.pid)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    return process, output, children, time.monotonic_ns()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the run's processes")
@pytest.mark.parametrize(("signum", "mode"), CASES)
def test_a_signal_mid_run_keeps_every_completed_sample_and_leaves_nothing_running(
    pytester: pytest.Pytester, emulator: EmulatorProcess, signum: signal.Signals, mode: str
) -> None:
    process, output, children, exited_ns = signal_mid_run(pytester, emulator, signum, mode)
    out = pytester.path / "out"

    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "baselines NOT saved: the run is partial" in output
    assert not list(out.glob("baselines/**/*.json"))  # only the run history (perf-history.sqlite) is there
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["partial"] is True
    assert "partial" in (out / "report.html").read_text().lower()
    samples = {s["request_id"]: s for scenario in results["scenarios"] for s in scenario["samples"]}
    slow = next(s for s in results["scenarios"] if s["name"] == "slow")
    assert slow["complete"] is False and slow["samples"], output

    wait_for(lambda: not any(alive(pid) for pid in children), 2.0, "the run's processes to end")
    time.sleep(STRAGGLER_S)
    truth = emulator.truth()
    assert [r for r in truth if r["arrival_ns"] > exited_ns] == []
    completed = [r for r in truth if r["outcome"] == "ok" and r["end_ns"] is not None]
    kept = [r for r in completed if r["request_id"] in samples]
    in_flight = CONCURRENCY * (2 if mode == "xdist" else 1)  # two scenarios may run at once under xdist
    assert len(completed) - len(kept) <= in_flight, output
    assert all(samples[r["request_id"]]["ok"] for r in kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the run's processes")
@pytest.mark.parametrize("mode", ["xdist", "perf-workers"])
def test_client_processes_die_with_a_killed_pytest(
    pytester: pytest.Pytester, emulator: EmulatorProcess, mode: str
) -> None:
    """SIGKILL leaves no chance to clean up: the processes pytest started notice on their own."""
    process, output, children, _ = signal_mid_run(pytester, emulator, signal.SIGKILL, mode)
    assert process.returncode == -signal.SIGKILL and children, output
    wait_for(lambda: not any(alive(pid) for pid in children), 2.0, "the run's processes to notice and end")
    sent = len(emulator.truth())
    time.sleep(1.0)
    assert len(emulator.truth()) == sent  # nobody is sending any more
