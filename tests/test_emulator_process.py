"""Lifecycle of the emulator process: clean start and stop, and no orphan however its parent ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_cerebras_perf.emulator import EmulatorError, EmulatorProcess

PARENT_TIMEOUT_S = 30


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie waiting for a reaper counts as gone (it serves nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _parent(body: str) -> subprocess.Popen[str]:
    """A Python process (own session, like a terminal's foreground job) that runs ``body`` and prints the
    emulator's pid as its first line."""
    script = "import time\nfrom pytest_cerebras_perf.emulator import EmulatorProcess\n" + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _emulator_pid(parent: subprocess.Popen[str]) -> int:
    assert parent.stdout is not None
    line = parent.stdout.readline()
    if not line.strip().isdigit():
        parent.kill()
        raise AssertionError(f"the parent printed {line!r}; stderr: {parent.communicate(timeout=5)[1]}")
    return int(line)


def test_stop_leaves_no_process_and_is_idempotent() -> None:
    emulator = EmulatorProcess()
    url = emulator.start("fast")
    pid = emulator.pid
    assert url.startswith("http://127.0.0.1:") and pid is not None and _alive(pid)
    emulator.stop()
    assert not _alive(pid)
    emulator.stop()
    with pytest.raises(EmulatorError):
        _ = emulator.url


def test_command_line_prints_the_url_first_and_exits_0_on_sigterm_and_sigint() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        child = subprocess.Popen(
            [sys.executable, "-m", "pytest_cerebras_perf.emulator", "--port", "0", "--api-key", "secret-key-123"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().startswith("http://127.0.0.1:")
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=10)
        assert child.returncode == 0 and stdout == ""
        assert "secret-key-123" not in stderr


def test_a_bad_profile_fails_start_with_the_emulators_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("decode_tps: -1\n")
    with pytest.raises(EmulatorError, match=r"bad\.yaml: field 'decode_tps'"):
        EmulatorProcess().start(str(bad))


def test_parent_killed_with_sigkill_takes_the_emulator_with_it() -> None:
    parent = _parent("""
        emulator = EmulatorProcess()
        emulator.start("fast")
        print(emulator.pid, flush=True)
        time.sleep(60)
    """)
    pid = _emulator_pid(parent)
    assert _alive(pid)
    parent.kill()
    parent.wait(timeout=PARENT_TIMEOUT_S)
    assert _gone_within(pid, 10), "the emulator outlived a SIGKILLed parent"


def test_ctrl_c_in_the_parent_stops_the_emulator_in_order() -> None:
    parent = _parent("""
        with EmulatorProcess() as emulator:
            emulator.start("fast")
            print(emulator.pid, flush=True)
            time.sleep(60)
    """)
    pid = _emulator_pid(parent)
    os.killpg(parent.pid, signal.SIGINT)  # what a terminal does to its foreground process group
    _, stderr = parent.communicate(timeout=PARENT_TIMEOUT_S)
    assert "KeyboardInterrupt" in stderr
    assert _gone_within(pid, 10)


def test_normal_exit_without_stop_still_stops_the_emulator() -> None:
    parent = _parent("""
        emulator = EmulatorProcess()
        emulator.start("fast")
        print(emulator.pid, flush=True)
    """)
    pid = _emulator_pid(parent)
    parent.communicate(timeout=PARENT_TIMEOUT_S)
    assert parent.returncode == 0
    assert _gone_within(pid, 10)
