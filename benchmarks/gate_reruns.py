"""False alarms of the real plugin on an unchanged endpoint: save K baselines, rerun R times, count.

Runs the shipped suite (``perf_tests``) against the emulator exactly as a user would, through
pytest, with a fresh baseline folder: K ``--perf-save`` runs, then R gated reruns of the same
unchanged emulator profile. Every regression verdict among the reruns is a false alarm; the script
prints them all, plus how many gates ran, how many were inconclusive, and the MDEs the gate
reported (what it could have seen).

    python benchmarks/gate_reruns.py                 # K=3, R=20, 10 iterations, llama profile
    python benchmarks/gate_reruns.py --reruns 5 --iterations 5 --profile fast
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_run(workdir: Path, profile: str, iterations: int, index: int, save: bool) -> dict:
    results = workdir / f"results-{index}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "perf_tests"),
        "-p",
        "cerebras_perf",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "--iterations",
        str(iterations),
        "--perf-emulator-profile",
        profile,
        "--perf-baseline-dir",
        str(workdir / "baselines"),
        "--perf-json",
        str(results),
        "--perf-report",
        "none",
        "--perf-seed-results",
        "none",
    ]
    if save:
        command.append("--perf-save")
    subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    return json.loads(results.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", type=int, default=3)
    parser.add_argument("--reruns", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--profile", default="cerebras-llama-3.3-70b")
    args = parser.parse_args()

    verdicts: Counter[str] = Counter()
    alarms: list[str] = []
    mdes: dict[str, list[float]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        for index in range(args.baselines):
            pytest_run(workdir, args.profile, args.iterations, index, save=True)
        for index in range(args.reruns):
            results = pytest_run(workdir, args.profile, args.iterations, 100 + index, save=False)
            for scenario in results["scenarios"]:
                for gate in scenario["gate"]:
                    verdicts[gate["verdict"]] += 1
                    if gate["verdict"] == "regression":
                        alarms.append(f"rerun {index + 1}: {scenario['id']} {gate['metric']} ratio {gate['ratio']:.3f}")
                    if gate.get("mde") is not None:
                        mdes.setdefault(gate["metric"], []).append(gate["mde"])
    elapsed = time.perf_counter() - started
    gates = sum(verdicts.values())
    print(
        f"profile {args.profile}, {args.baselines} saved baseline runs, {args.reruns} unchanged reruns, "
        f"{args.iterations} iterations each ({elapsed:.0f} s)"
    )
    print(f"gates evaluated: {gates}")
    for verdict, count in sorted(verdicts.items()):
        print(f"  {verdict:13} {count:5}  ({count / gates * 100:.1f} %)")
    print(f"false alarms (regressions on an unchanged endpoint): {len(alarms)}")
    for alarm in alarms:
        print(f"  {alarm}")
    print("median reported MDE per metric (smallest regression the gate could see):")
    for metric, values in sorted(mdes.items()):
        print(f"  {metric:12} +{statistics.median(values) * 100:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
