"""The emulator the plugin starts never outlives the session: after a pass, a failure or an error.

(Ctrl-C is covered in test_interrupt.py, a killed parent in test_emulator_process.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from perf_sessions import PLUGIN

TEST = """
import os
from pathlib import Path

import pytest

def emulator_pids():
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid() and b"pytest_cerebras_perf.emulator" in cmdline:
                pids.append(entry.name)
    return pids

@pytest.fixture
def broken():
    raise RuntimeError("fixture error")

@pytest.mark.scenario(name="tiny", prompt="hi", max_completion_tokens=2)
def test_outcome(cerebras_call, request):
    cerebras_call()
    Path("emulator.pid").write_text(",".join(emulator_pids()))
    outcome = os.environ["OUTCOME"]
    if outcome == "fail":
        assert False, "failing on purpose"
    if outcome == "error":
        request.getfixturevalue("broken")
"""


@pytest.mark.parametrize(
    ("outcome", "expected"), [("pass", {"passed": 1}), ("fail", {"failed": 1}), ("error", {"failed": 1})]
)
def test_no_emulator_survives(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, outcome: str, expected: dict[str, int]
) -> None:
    pytester.makepyfile(test_lifecycle=TEST)
    monkeypatch.setenv("OUTCOME", outcome)
    result = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "fast", "--iterations", "1"),
        *("--perf-report", "none", "--perf-seed-results", "none", "--perf-json", "r.json"),
    )
    result.assert_outcomes(**expected)
    pids = (pytester.path / "emulator.pid").read_text().split(",")
    assert len(pids) == 1 and pids[0].isdigit()  # the plugin's emulator was running during the test
    assert not os.path.exists(f"/proc/{pids[0]}"), f"emulator {pids[0]} outlived a session that ended in {outcome}"
    assert Path(pytester.path / "r.json").exists()
