"""The real plugin on a drifting endpoint: false alarms on unchanged reruns, detection of one slower scenario.

Runs the shipped suite (``perf_tests``) through pytest exactly as a user would, against the
emulator's default profile (``DEFAULT_PROFILE``) with its default session drift τ. Every pytest
session starts its own emulator process from a per-session profile file that sets a fresh random
``drift_seed`` (a fresh drift factor: a new "day") and a fresh request ``seed`` (a new day's
request noise; the emulator's ``system_fingerprint`` follows that seed, so every session warns of a
changed fingerprint, which does not affect the gate). Both seeds are printed, so any session can be
replayed. With one baseline folder:

1. ``--baselines`` runs saved with ``--perf-save`` in as many sessions (5), pooled with
   ``--perf-baseline-runs`` equal to that count;
2. ``--reruns`` unchanged sessions: every failing session is a false alarm (target: at most 1 of 30);
3. for each factor of ``--slowdowns``, sessions in which one scenario's decode takes that factor
   longer (an emulator ``slowdowns`` rule matching that scenario's prompt, so the other scenarios
   are untouched): how often that scenario's test fails, and any other test that fails (target at
   +40 %: at least 9 of 10, and none). ``--sessions`` at the first factor, ``--side-sessions`` at
   the others.

Separate days, honestly: the gate pools runs accepted less than ``GatePolicy.session_gap`` (1 h)
apart into one session for τ, because back-to-back saves share one drift. Here the saves are
minutes apart but each one faced its own emulator's drift factor, i.e. they *are* separate days
compressed into minutes. After each save the script moves that run's ``accepted`` time (the
documented field of the baseline file, results-format.md "Baselines") back to one day apart:
the baseline folder is this script's own, and the time is the only thing changed. Changing the
gate's ``session_gap`` instead (a setting no user needs) would test another gate than the one shipped.

Nothing is saved after step 1, so every session is gated against the same runs. A run the client
could not keep up with is not gated (``not-gated``, client saturated) and cannot fail: such
sessions are counted separately, since the machine these figures come from is shared. The
client-lag limit is raised to 50 ms (``--perf-max-client-lag``) for the same reason; the gate
itself is unchanged. The script prints the gate's own view too: the drift τ and the MDE it
reported for the slowed scenario, which says what a single run cannot see.

Resumable: every finished session is appended to ``<workdir>/sessions.jsonl`` (and printed) as it
ends; run the same command again with the same ``--workdir`` to continue where it stopped (a save
interrupted half-way is redone from the previous save's copy of the baselines).

    python -u benchmarks/gate_reruns.py --workdir /tmp/gate-reruns      # the figures in the README (~1 h)
    python -u benchmarks/gate_reruns.py --quick                         # 12 sessions, a quick look (~15 min)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_cerebras_perf.emulator.latency import SessionDrift  # noqa: E402
from pytest_cerebras_perf.emulator.profile import DEFAULT_PROFILE, load_profile  # noqa: E402
from pytest_cerebras_perf.files import write_atomic  # noqa: E402

#: the slowed scenario and a piece of its prompt that no other scenario's prompt contains
SLOWED = ("short_input_long_output", "space explorer")
#: how far apart the saved runs are dated: one a day, as a nightly save would be
DAY_S = 86_400.0
SATURATED = "client saturated"


@dataclass
class Session:
    """One finished pytest session, as stored in sessions.jsonl."""

    name: str
    kind: str  # "save", "unchanged" or "slow"
    factor: float
    drift_seed: int
    seed: int
    exit_code: int
    failed: list[str]
    saturated: list[str]  # scenarios whose run was not gated: the client could not keep up
    gates: dict[str, list[dict[str, Any]]]
    drift_factor: float
    seconds: float

    @property
    def gated(self) -> bool:
        return not self.saturated

    @property
    def fails(self) -> bool:
        return self.exit_code != 0 or bool(self.failed)


def session_profile(workdir: Path, name: str, factor: float, rng: random.Random) -> tuple[Path, int, int]:
    """A profile file for one session: the default profile, fresh seeds, the slowdown rule if any."""
    drift_seed, seed = rng.randrange(2**31), rng.randrange(2**31)
    lines = [f"base: {DEFAULT_PROFILE}", f"drift_seed: {drift_seed}", f"seed: {seed}"]
    if factor != 1.0:
        lines += ["slowdowns:", f"  - match: {SLOWED[1]}", f"    decode: {factor}"]
    path = workdir / "profiles" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path, drift_seed, seed


def run_session(
    workdir: Path, name: str, kind: str, factor: float, rng: random.Random, args: argparse.Namespace
) -> Session:
    profile, drift_seed, seed = session_profile(workdir, name, factor, rng)
    results, junit = workdir / "runs" / f"{name}.json", workdir / "runs" / f"{name}.xml"
    results.parent.mkdir(exist_ok=True)
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
        "-p",
        "no:randomly",
        "--rootdir",
        str(ROOT),
        "--iterations",
        str(args.iterations),
        "--perf-emulator-profile",
        str(profile),
        "--perf-baseline-dir",
        str(workdir / "baselines"),
        "--perf-baseline-runs",
        str(args.baselines),
        "--perf-json",
        str(results),
        "--junitxml",
        str(junit),
        "--perf-report",
        "none",
        "--perf-seed-results",
        "none",
        "--perf-max-client-lag",
        "0.05",
    ]
    if kind == "save":  # the endpoint is unchanged: a regression flagged while saving is itself a false alarm
        command += ["--perf-save", "--perf-accept-regression"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    if not results.exists():
        raise SystemExit(f"{name}: pytest wrote no results (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    failed = sorted(
        case.get("name", "").partition("[")[2].rstrip("]")
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    )
    document = json.loads(results.read_text())
    gates = {s["name"]: s["gate"] for s in document["scenarios"]}
    saturated = sorted(
        name for name, verdicts in gates.items() if any(SATURATED in g.get("note", "") for g in verdicts)
    )
    return Session(
        name=name,
        kind=kind,
        factor=factor,
        drift_seed=drift_seed,
        seed=seed,
        exit_code=done.returncode,
        failed=failed,
        saturated=saturated,
        gates=gates,
        drift_factor=SessionDrift.draw(load_profile(str(profile)).drift_tau, drift_seed).factor,
        seconds=round(time.perf_counter() - started, 1),
    )


def date_saved_runs(workdir: Path, saved: int, total: int) -> None:
    """Date the last accepted run of every scenario (the ``saved``-th) ``total - saved`` days before now.

    The seam of the module docstring: only the run's ``accepted`` field changes.
    """
    for path in (workdir / "baselines").rglob("*.json"):
        document = json.loads(path.read_text())
        when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=DAY_S * (total - saved))
        for entry in document["scenarios"].values():
            entry["runs"][-1]["accepted"] = when.isoformat(timespec="seconds")
        write_atomic(path, json.dumps(document, sort_keys=True, indent=2) + "\n")


class Journal:
    """sessions.jsonl: the sessions finished so far, appended one line each as they end."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.path = workdir / "sessions.jsonl"
        settings = workdir / "config.json"
        if settings.exists() and json.loads(settings.read_text()) != config:
            raise SystemExit(
                f"{settings}: written by other settings ({settings.read_text().strip()}); use another --workdir"
            )
        settings.write_text(json.dumps(config, sort_keys=True) + "\n")
        self.done: dict[str, Session] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    session = Session(**json.loads(line))
                    self.done[session.name] = session

    def add(self, session: Session) -> None:
        with self.path.open("a") as journal:
            journal.write(json.dumps(asdict(session), sort_keys=True) + "\n")
        self.done[session.name] = session


def progress(session: Session) -> None:
    status = "FAILED " + ", ".join(session.failed) if session.fails else "passed"
    if session.saturated:
        status += f" (not gated: {', '.join(session.saturated)})"
    print(
        f"  {session.name}: drift ×{session.drift_factor:.3f} (drift_seed {session.drift_seed}, seed {session.seed}), "
        f"{status} [{session.seconds:.0f} s]",
        flush=True,
    )


def gate_view(sessions: list[Session], scenario: str) -> str:
    """Median τ and MDE the gate reported for ``scenario``, per metric (a rate's MDE is a drop: −)."""
    taus: dict[str, list[float]] = {}
    mdes: dict[str, list[float]] = {}
    drops: set[str] = set()
    for session in sessions:
        for gate in session.gates.get(scenario, []):
            if gate.get("tau") is not None:
                taus.setdefault(gate["metric"], []).append(gate["tau"])
            if gate.get("mde") is not None:
                mdes.setdefault(gate["metric"], []).append(gate["mde"])
            if gate.get("higher_is_better"):
                drops.add(gate["metric"])
    parts = []
    for metric, values in sorted(mdes.items()):
        sign = "−" if metric in drops else "+"
        tau = statistics.median(taus.get(metric, [0.0]))
        parts.append(f"{metric} {sign}{statistics.median(values) * 100:.0f} % (τ {tau * 100:.1f} %)")
    return ", ".join(parts)


def summary(journal: Journal, plan: list[tuple[str, str, float]], baselines: int) -> None:
    """The table: per kind of session, gated sessions, failing ones, and what the gate saw."""
    print("\n| sessions | run | gated | not gated (client saturated) | result | other tests failing |")
    print("|---|---|---|---|---|---|")
    groups: dict[tuple[str, float], list[Session]] = {}
    for name, kind, factor in plan:
        if kind != "save" and name in journal.done:
            groups.setdefault((kind, factor), []).append(journal.done[name])
    views = []
    for (kind, factor), sessions in groups.items():
        gated = [s for s in sessions if s.gated]
        ungated = len(sessions) - len(gated)
        if kind == "unchanged":
            failing = sum(1 for s in gated if s.fails)
            label, result = "unchanged", f"{failing} of {len(gated)} failing (target ≤ 1 of 30)"
            others = Counter(name for s in gated for name in s.failed)
        else:
            detected = sum(1 for s in gated if SLOWED[0] in s.failed)
            label = f"{SLOWED[0]} decode +{(factor - 1) * 100:.0f} %"
            rate = f" ({detected / len(gated) * 100:.0f} %)" if gated else ""
            result = f"detected in {detected} of {len(gated)}{rate}" + (" (target ≥ 9 of 10)" if factor >= 1.4 else "")
            others = Counter(name for s in gated for name in s.failed if name != SLOWED[0])
        other = ", ".join(f"{name} ×{n}" for name, n in sorted(others.items())) or "none"
        print(f"| {len(sessions)} | {label} | {len(gated)} | {ungated} | {result} | {other} |")
        views.append(f"  {label}: {gate_view(sessions, SLOWED[0])}")
    print(f"\nMDE the gate reported for {SLOWED[0]} (median over sessions, per metric; τ it used):")
    print("\n".join(views))
    verdicts = Counter(
        g["verdict"] for s in journal.done.values() if s.kind != "save" for v in s.gates.values() for g in v
    )
    print("verdicts of every gate in these sessions: " + ", ".join(f"{n} {k}" for k, n in sorted(verdicts.items())))
    print(
        f"({baselines} baseline runs, one a day; drift factors of the saves: "
        + ", ".join(f"×{s.drift_factor:.3f}" for s in journal.done.values() if s.kind == "save")
        + ")"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", type=int, default=5, help="runs saved, one session each (default 5)")
    parser.add_argument("--reruns", type=int, default=30, help="unchanged sessions (default 30)")
    parser.add_argument("--sessions", type=int, default=10, help="sessions at the first slowdown factor (default 10)")
    parser.add_argument("--side-sessions", type=int, default=5, help="sessions at each further factor (default 5)")
    parser.add_argument("--slowdowns", default="1.4,1.3,1.2", help="decode-time factors of the slowed scenario")
    parser.add_argument("--iterations", type=int, default=10, help="measured iterations per scenario (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 reruns, 2 sessions at +40 %%, 1 at the others")
    parser.add_argument("--workdir", type=Path, help="where sessions.jsonl and the baselines go; reuse it to resume")
    parser.add_argument("--rng-seed", type=int, help="seed of the per-session seeds (default: random, recorded)")
    args = parser.parse_args()
    if args.quick:
        args.reruns, args.sessions, args.side_sessions = 3, 2, 1
    factors = [float(f) for f in args.slowdowns.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gate-reruns-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k not in ("workdir", "quick")}
    if config["rng_seed"] is None:
        stored = workdir / "config.json"
        config["rng_seed"] = json.loads(stored.read_text())["rng_seed"] if stored.exists() else random.randrange(2**31)
    journal = Journal(workdir, config)
    rng = random.Random(config["rng_seed"])

    plan = [(f"save-{i}", "save", 1.0) for i in range(args.baselines)]
    plan += [(f"rerun-{i}", "unchanged", 1.0) for i in range(args.reruns)]
    for index, factor in enumerate(factors):
        count = args.sessions if index == 0 else args.side_sessions
        plan += [(f"slow-{factor:g}-{i}", "slow", factor) for i in range(count)]
    profile = load_profile(DEFAULT_PROFILE)
    print(
        f"shipped suite (perf_tests), profile {DEFAULT_PROFILE} (session drift τ = {profile.drift_tau:g}, a fresh "
        f"factor per session), {args.iterations} iterations, K = {args.baselines}; workdir {workdir} "
        f"(rng seed {config['rng_seed']}; {len(journal.done)} of {len(plan)} sessions already done)",
        flush=True,
    )
    started = time.perf_counter()
    snapshots = workdir / "snapshots"
    for name, kind, factor in plan:
        if name in journal.done:
            rng.randrange(2**31), rng.randrange(2**31)  # keep the seeds of later sessions as on a fresh run
            continue
        if kind == "save":
            index = int(name.split("-")[1])
            previous = snapshots / f"save-{index - 1}"
            shutil.rmtree(workdir / "baselines", ignore_errors=True)
            if index > 0:
                shutil.copytree(previous, workdir / "baselines")
        session = run_session(workdir, name, kind, factor, rng, args)
        if kind == "save":
            date_saved_runs(workdir, index + 1, args.baselines)
            shutil.copytree(workdir / "baselines", snapshots / name, dirs_exist_ok=True)
        journal.add(session)
        progress(session)
    summary(journal, plan, args.baselines)
    print(f"\n({time.perf_counter() - started:.0f} s this invocation; sessions.jsonl in {workdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
