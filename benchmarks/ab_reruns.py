"""Interleaved A/B across whole pytest sessions: false failures and detections, drift changing daily.

Issue 15, acceptance 1, at full counts (tests/test_ab.py runs a few of these sessions):

* A = B (same scenarios file, one endpoint) in 20 sessions: how many fail;
* B's decode 20 % slower (B on a second emulator, A named by ``--perf-ab-base-url``), 10 sessions
  at ``--iterations 10``: how many fail on that scenario;
* B's decode 8 % slower, ``--perf-tolerance 0.05``, 10 sessions at ``--iterations 20``.

Both emulators run the ``fast`` profile with 300-token decodes at 2,000 tok/s, jitter 3 % and
session drift on (``drift_tau`` 0.05); before every session both get one new drift factor drawn
from N(0, 0.05²) on the log scale (the endpoint's "day", shared by A and B as it would be by two
variants measured against one endpoint). Every session is a real ``pytest -p cerebras_perf``
process measuring through the SDK.

    python benchmarks/ab_reruns.py
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_cerebras_perf.emulator import EmulatorProcess

PROFILE = "base: fast\nttft_base: 0.005\ndecode_tps: {decode}\njitter_sigma: 0.03\ndrift_tau: 0.05\n"
DECODE = 2000.0
SCENARIOS = """scenarios:
  decode_heavy:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 300
    min_completion_tokens: 300
"""
TEST = "import pytest\n\n@pytest.mark.scenario\ndef test_perf(cerebras_call):\n    cerebras_call()\n"
KEY = "emu-ab-reruns"


def session(folder: Path, name: str, *options: str) -> tuple[int, list[str]]:
    """Exit status and the metrics that regressed."""
    results = folder / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "cerebras_perf",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
    ]
    command += ["--perf-json", str(results), "--perf-report", "none", "--perf-seed-results", "none"]
    command += ["--perf-max-client-lag", "0.05", *options]
    environment = {**os.environ, "CEREBRAS_API_KEY": KEY, "CEREBRAS_AB_API_KEY": KEY}
    done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, check=False)
    data = json.loads(results.read_text()) if results.exists() else {"scenarios": []}
    regressed = [g["metric"] for s in data["scenarios"] for g in s["gate"] if g["verdict"] == "regression"]
    return done.returncode, regressed


def main() -> None:
    rng = random.Random(15)
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess() as a, EmulatorProcess() as b:
        folder = Path(tmp)
        (folder / "scenarios.yaml").write_text(SCENARIOS)
        (folder / "test_perf.py").write_text(TEST)
        (folder / "a.yaml").write_text(PROFILE.format(decode=DECODE))
        (folder / "b.yaml").write_text(PROFILE.format(decode=DECODE))
        a.start(str(folder / "a.yaml"), api_key=KEY)
        b.start(str(folder / "b.yaml"), api_key=KEY)

        def day() -> float:
            factor = math.exp(rng.gauss(0.0, 0.05))
            a.set_drift(factor)
            b.set_drift(factor)
            return factor

        cases = [
            (
                "A = B",
                20,
                1.0,
                ["--perf-base-url", a.url, "--perf-ab-scenarios", "scenarios.yaml", "--iterations", "10"],
            ),
            ("B decode +20 %", 10, 1.2, ["--perf-base-url", b.url, "--perf-ab-base-url", a.url, "--iterations", "10"]),
            (
                "B decode +8 %, tolerance 5 %",
                10,
                1.08,
                [
                    "--perf-base-url",
                    b.url,
                    "--perf-ab-base-url",
                    a.url,
                    "--iterations",
                    "20",
                    "--perf-tolerance",
                    "0.05",
                ],
            ),
        ]
        print("case                          sessions  failed  drift factors (min–max)  regressed metrics")
        for case, (label, count, slower, options) in enumerate(cases):
            b.set_profile({"decode_tps": DECODE / slower})
            failed, factors = 0, []
            metrics: dict[str, int] = {}
            for index in range(count):
                factors.append(day())
                status, regressed = session(folder, f"case{case}-{index}", *options)
                if status not in (0, 1):
                    raise SystemExit(f"{label}: session {index} ended with status {status} (not a test outcome)")
                failed += status == 1
                for metric in regressed:
                    metrics[metric] = metrics.get(metric, 0) + 1
            spread = f"{min(factors):.3f}–{max(factors):.3f}"
            shown = ", ".join(f"{m} {n}" for m, n in sorted(metrics.items())) or "none"
            print(f"{label:30} {count:8}  {failed:6}  {spread:>23}  {shown}", flush=True)


if __name__ == "__main__":
    main()
