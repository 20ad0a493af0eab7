"""False alarms and detection against a REAL llama.cpp server: unchanged sessions and a 4x slower model.

The plugin's own gate on llama.cpp's ``llama-server`` (tests/llamacpp.py builds it) serving the tiny
GGUF model of tests/tiny_gguf.py, each session on a FRESH server process, as CI would start one:

1. ``--baselines`` sessions saved with ``--perf-save``; after each save its runs are dated a day
   apart (the gate pools saves less than an hour apart into one session, and this script compresses
   days into minutes; the same seam as benchmarks/gate_reruns.py);
2. ``--reruns`` unchanged sessions: a failing session is a false alarm (target: at most 1 of 10);
3. ``--slow-sessions`` sessions on the ``slow`` model (the same outputs through more and wider
   layers): each must fail.

The suite is two scenarios pinned with ``--perf-length-fields max_tokens,ignore_eos`` (what the
README tells llama.cpp users to set): a short prompt with 32 output tokens and a cold long prompt
(``prompt_cache: cold``) with 128. The client-lag limit is raised to 50 ms because this runs on a
shared machine.

    python -u benchmarks/llamacpp_reruns.py                 # the figures in the README (~10 min)
    python benchmarks/llamacpp_reruns.py --reruns 2 --slow-sessions 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llamacpp import (
    LLAMA_SERVER_LENGTH_FIELDS,
    Session,
    date_last_runs,
    ensure_built,
    llama_server,
    perf_session,
)
from tiny_gguf import write_model

LONG_PROMPT = " ".join(f"Paragraph {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
SUITE = f"""
import pytest

@pytest.mark.scenario(name="short", prompt="Say something.", max_completion_tokens=32, min_completion_tokens=32)
def test_short(cerebras_call):
    cerebras_call()

@pytest.mark.scenario(name="long_input", prompt="{LONG_PROMPT} Summarise.", max_completion_tokens=128,
                      min_completion_tokens=128, prompt_cache="cold")
def test_long_input(cerebras_call):
    cerebras_call()
"""


@dataclass
class Study:
    """Which sessions failed, and on which gates."""

    work: Path
    iterations: int
    sessions: list[tuple[str, Session]] = field(default_factory=list)

    def session(self, model: Path, name: str, *args: str) -> Session:
        with llama_server(ensure_built(), model, self.work / f"{name}.log") as server:
            session = perf_session(
                self.work / "suite", server, name, "--iterations", str(self.iterations),
                "--perf-length-fields", LLAMA_SERVER_LENGTH_FIELDS, "--perf-max-client-lag", "0.05", *args,
            )  # fmt: skip
        self.sessions.append((name, session))
        return session


def failing_gates(session: Session) -> list[str]:
    return [
        f"{scenario['id']} {verdict['metric']}"
        for scenario in session.results["scenarios"]
        for verdict in scenario["gate"]
        if verdict["verdict"] == "regression"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", type=int, default=3)
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--slow-sessions", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    started = time.monotonic()
    ensure_built()
    with tempfile.TemporaryDirectory(prefix="llamacpp-reruns-") as tmp:
        work = Path(tmp)
        (work / "suite").mkdir()
        (work / "suite" / "test_suite.py").write_text(SUITE)
        normal, slow = write_model(work / "normal.gguf", "normal"), write_model(work / "slow.gguf", "slow")
        study = Study(work, args.iterations)
        for index in range(args.baselines):
            saved = study.session(normal, f"baseline-{index + 1}", "--perf-save")
            if saved.exit_code != 0:
                sys.exit(f"baseline session {index + 1} failed:\n{saved.output[-3000:]}")
            date_last_runs(work / "baselines", args.baselines - index)
        false_alarms = Counter[str]()
        failed_reruns = 0
        for index in range(args.reruns):
            rerun = study.session(normal, f"rerun-{index + 1}")
            failed_reruns += rerun.exit_code != 0
            false_alarms.update(failing_gates(rerun))
            print(f"unchanged session {index + 1}: exit {rerun.exit_code} {failing_gates(rerun)}", flush=True)
        detected = 0
        caught = Counter[str]()
        for index in range(args.slow_sessions):
            slowed = study.session(slow, f"slow-{index + 1}")
            detected += slowed.exit_code != 0
            caught.update(failing_gates(slowed))
            print(f"4x slower model session {index + 1}: exit {slowed.exit_code} {failing_gates(slowed)}", flush=True)
        tps = {
            name: sorted(s["output_tps"] for s in session.samples if s["output_tps"])[len(session.samples) // 2]
            for name, session in study.sessions
            if name in ("rerun-1", "slow-1")
        }
    print()
    print(f"real llama-server, fresh process per session; {args.baselines} baselines dated a day apart, ")
    print(f"{args.iterations} iterations per scenario, 2 scenarios (32 and 128 pinned output tokens)")
    print(f"unchanged sessions failing: {failed_reruns} of {args.reruns} (target: at most 1)")
    print(f"  false-alarm gates: {dict(false_alarms) or 'none'}")
    print(f"4x slower model sessions failing: {detected} of {args.slow_sessions} (target: all)")
    print(f"  gates that caught it: {dict(caught)}")
    print(f"  median output tok/s, normal vs slow: {tps}")
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
