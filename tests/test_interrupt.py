"""Ctrl-C in the middle of a run: what was measured is written (marked partial), the report too,
no baseline is accepted, and the emulator does not outlive pytest."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from perf_sessions import PLUGIN, session_files
from processes import background_pytest, wait_for

SCENARIOS = """
scenarios:
  quick: {prompt: hi, max_completion_tokens: 4, min_completion_tokens: 4}
  slow: {prompt: hi, max_completion_tokens: 40, min_completion_tokens: 40}
"""
# 400 tok/s: a "slow" request takes 0.1 s, so its 100 iterations would take 10 s.
PROFILE = "base: fast\ndecode_tps: 400\n"
TEST = """
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call, request):
        (Path(os.environ["STARTED_DIR"]) / request.node.callspec.id).touch()
        cerebras_call()
"""


def emulator_children(parent: int) -> list[int]:
    """Pids of emulator processes whose parent is ``parent`` (a /proc scan, Linux only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == parent and b"pytest_cerebras_perf.emulator" in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the emulator")
def test_ctrl_c_writes_what_was_measured_and_stops_the_emulator(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    (pytester.path / "profile.yaml").write_text(PROFILE)
    started = pytester.mkdir("started")
    out = pytester.path / "out"
    with background_pytest(
        *PLUGIN,
        *("--perf-emulator-profile", "profile.yaml", "--iterations", "100", "--warmup", "0"),
        *session_files(out),
        "--perf-save",
        cwd=pytester.path,
        env={**os.environ, "STARTED_DIR": str(started)},
    ) as process:
        wait_for(lambda: (started / "slow").exists(), 60, "the slow scenario to start")
        time.sleep(1.0)  # about ten of its requests
        emulators = emulator_children(process.pid)
        assert len(emulators) == 1
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "PARTIAL RUN: interrupted" in output
    assert "baselines NOT saved: the run is partial (interrupted)" in output
    assert not list(out.glob("baselines/**/*.json"))  # only the run history (perf-history.sqlite) is there
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["partial"] is True and results["run"]["partial_reason"] == "interrupted"
    quick, slow = results["scenarios"]
    assert quick["complete"] is True and len(quick["samples"]) == 100
    assert slow["complete"] is False and slow["stopped"] == "interrupted"
    assert 0 < len(slow["samples"]) < 100 and all(s["ok"] for s in slow["samples"])
    assert "partial" in (out / "report.html").read_text().lower()
    assert not Path(f"/proc/{emulators[0]}").exists()  # stopped and reaped, not orphaned
