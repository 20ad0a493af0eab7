"""Monte Carlo of the real regression gate (shared/reference/gate.md, "How the gate is evaluated").

Runs :func:`pytest_cerebras_perf.gate.gate_metric` and :func:`~pytest_cerebras_perf.gate.confirm`
themselves (no copy) on simulated latencies, two-stage with a 16-gate suite (α2 = 0.01 / 16),
and scores pytest-benchmark's ``median:10%`` and ``mean:10%`` rules (current median/mean above
1.10 × the pooled baseline's) on the same draws.

Model: n = 10 current samples; baseline runs of 10 samples (K = 3 runs, m = 30, without drift;
K = 5 with drift, τ estimated by the gate from the runs, never given). Log-normal noise
σ ∈ {0.1, 0.2, 0.3}, or the spike mixture N(0, 0.1²) + Bernoulli(0.05)·log(1 + 2·Lomax(1.2)).
Drift τ: one independent N(0, τ²) log shift per run (each baseline run, the current run, the
confirmation run). A regression multiplies every current and confirmation sample by r.

The suite false-alarm rate is 1 − (1 − p)^16 for a per-gate rate p, i.e. 16 independent gates.

    python benchmarks/gate_power.py            # full run (≥ 20,000 trials per false-alarm cell)
    python benchmarks/gate_power.py --quick    # a smoke run in seconds, numbers only indicative
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from pytest_cerebras_perf.gate import FloatArray, GatePolicy, Tolerance, confirm, gate_metric

SUITE_GATES = 16
N_CURRENT = 10
RUN_SIZE = 10
REGRESSIONS = (1.0, 1.1, 1.15, 1.2, 1.25, 1.5)
POLICY = GatePolicy(n_gates=SUITE_GATES)
TOLERANCE = Tolerance(relative=0.10)
RULE_RATIO = 1.10  # pytest-benchmark's --benchmark-compare-fail=median:10% / mean:10%


@dataclass(frozen=True)
class Noise:
    """A log-scale noise model: Gaussian σ, plus optional heavy-tailed spikes."""

    label: str
    sigma: float
    spike_p: float = 0.0

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        logs = rng.normal(0.0, self.sigma, size)
        if self.spike_p:
            spikes = rng.random(size) < self.spike_p
            logs += spikes * np.log1p(2 * rng.pareto(1.2, size))
        return logs


NOISES = (
    Noise("log-normal σ=0.1 (CV 10 %)", 0.1),
    Noise("log-normal σ=0.2 (CV 20 %)", 0.2),
    Noise("log-normal σ=0.3 (CV 31 %)", 0.3),
    Noise("spikes σ=0.1, p=0.05, Lomax(1.2)", 0.1, 0.05),
)
DRIFTS = ((0.0, 3), (0.05, 5))  # (τ, K baseline runs)


@dataclass(frozen=True)
class Cell:
    noise: Noise
    tau: float
    runs: int
    ratio: float


@dataclass(frozen=True)
class Tally:
    """Counts over the trials of one cell."""

    trials: int = 0
    stage1: int = 0  # flagged at stage 1
    gate: int = 0  # confirmed at stage 2: the gate's final regressions
    median_rule: int = 0
    mean_rule: int = 0
    mde_sum: float = 0.0
    mde_count: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def rate(self, count: int) -> float:
        return count / self.trials

    @property
    def mean_mde(self) -> float:
        return self.mde_sum / self.mde_count if self.mde_count else math.nan


def simulate(cell: Cell, trials: int, seed: Sequence[int]) -> Tally:
    """``trials`` independent two-stage gate decisions (and rule decisions) for one cell."""
    rng = np.random.default_rng(seed)
    shift = math.log(cell.ratio)
    stage1_flags = confirmed = median_rule = mean_rule = 0
    mde_sum, mde_count = 0.0, 0

    def run(size: int, extra: float = 0.0) -> FloatArray:
        drift = rng.normal(0.0, cell.tau) if cell.tau else 0.0
        return np.exp(cell.noise.draw(rng, size) + drift + extra)

    for _ in range(trials):
        baseline = [run(RUN_SIZE) for _ in range(cell.runs)]
        current = run(N_CURRENT, shift)
        confirmation = run(N_CURRENT, shift)
        pooled = np.concatenate(baseline)
        median_rule += float(np.median(current)) > RULE_RATIO * float(np.median(pooled))
        mean_rule += float(np.mean(current)) > RULE_RATIO * float(np.mean(pooled))
        stage1 = gate_metric("e2e", current, baseline, higher_is_better=False, tolerance=TOLERANCE, policy=POLICY)
        if stage1.mde is not None:
            mde_sum, mde_count = mde_sum + stage1.mde, mde_count + 1
        if stage1.needs_confirmation:
            stage1_flags += 1
            final = confirm(
                stage1,
                np.concatenate([current, confirmation]),
                baseline,
                higher_is_better=False,
                tolerance=TOLERANCE,
                policy=POLICY,
            )
            confirmed += final.verdict == "regression"
    return Tally(trials, stage1_flags, confirmed, median_rule, mean_rule, mde_sum, mde_count)


def run_cells(cells: Sequence[Cell], trials: Sequence[int], seed: int, jobs: int) -> list[Tally]:
    """Each cell's trials split in chunks over ``jobs`` processes; seeds are independent per chunk."""
    chunks = max(1, jobs) * 2
    tasks = []
    root = np.random.SeedSequence(seed)
    for index, (cell, count) in enumerate(zip(cells, trials, strict=True)):
        cell_seeds = root.spawn(1)[0].spawn(chunks)
        sizes = [count // chunks + (i < count % chunks) for i in range(chunks)]
        tasks += [(index, cell, size, s.generate_state(4)) for size, s in zip(sizes, cell_seeds, strict=True)]
    tallies = [Tally() for _ in cells]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [(index, pool.submit(simulate, cell, size, list(state))) for index, cell, size, state in tasks]
        for index, future in futures:
            tallies[index] = tallies[index] + future.result()
    return tallies


def suite(rate: float) -> float:
    return 1 - (1 - rate) ** SUITE_GATES


def pct(rate: float, digits: int = 2) -> str:
    return f"{100 * rate:.{digits}f} %"


def report(results: dict[Cell, Tally], mde_power: dict[tuple[str, float], tuple[float, Tally]]) -> None:
    powers = [r for r in REGRESSIONS if r != 1.0]
    header = "| noise | τ | K | rule | per-gate false alarm | 16-gate suite | " + " | ".join(
        f"power +{round(100 * (r - 1))} %" for r in powers
    )
    print(header + " |")
    print("|" + "---|" * (6 + len(powers)))
    for noise in NOISES:
        for tau, runs in DRIFTS:
            row = {r: results[Cell(noise, tau, runs, r)] for r in REGRESSIONS}
            null = row[1.0]
            for rule, field in (("gate (two-stage)", "gate"), ("median:10%", "median_rule"), ("mean:10%", "mean_rule")):
                alarm = null.rate(getattr(null, field))
                cells = " | ".join(pct(row[r].rate(getattr(row[r], field)), 1) for r in powers)
                print(f"| {noise.label} | {tau} | {runs} | {rule} | {pct(alarm, 3)} | {pct(suite(alarm))} | {cells} |")
    print()
    print("Reported MDE (mean of the stage-1 verdicts' `mde` under no regression) vs the simulated power")
    print("of the two-stage gate at a regression of exactly that size (target 80 % ± 5 points):")
    print()
    print("| noise | τ | K | mean reported MDE | simulated power at the MDE | trials |")
    print("|---|---|---|---|---|---|")
    for noise in NOISES:
        for tau, runs in DRIFTS:
            mde, tally = mde_power[(noise.label, tau)]
            print(
                f"| {noise.label} | {tau} | {runs} | +{100 * mde:.1f} % | "
                f"{pct(tally.rate(tally.gate), 1)} | {tally.trials} |"
            )


def check_targets(results: dict[Cell, Tally], mde_power: dict[tuple[str, float], tuple[float, Tally]]) -> None:
    """gate.md's targets, each printed with its measured value and PASS/MISS."""
    checks: list[tuple[str, bool, str]] = []
    for noise in (NOISES[0], NOISES[1], NOISES[3]):
        null = results[Cell(noise, 0.0, 3, 1.0)]
        alarm = suite(null.rate(null.gate))
        checks.append((f"no drift, {noise.label}: suite false alarms ≤ 1 %", alarm <= 0.01, pct(alarm)))
    power = results[Cell(NOISES[0], 0.0, 3, 1.2)]
    checks.append(
        ("no drift, CV 10 %: power at +20 % ≥ 80 %", power.rate(power.gate) >= 0.8, pct(power.rate(power.gate), 1))
    )
    for noise in NOISES:
        null = results[Cell(noise, 0.05, 5, 1.0)]
        alarm = suite(null.rate(null.gate))
        checks.append((f"τ = 0.05, K = 5, {noise.label}: suite false alarms ≤ 2 %", alarm <= 0.02, pct(alarm)))
    for (label, tau), (mde, tally) in mde_power.items():
        got = tally.rate(tally.gate)
        checks.append(
            (
                f"τ = {tau}, {label}: power at the reported MDE +{100 * mde:.1f} % is 80 ± 5 %",
                abs(got - 0.8) <= 0.05,
                pct(got, 1),
            )
        )
    print()
    print("Targets:")
    for text, ok, value in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40_000, help="trials per false-alarm cell (r = 1.0)")
    parser.add_argument("--power-trials", type=int, default=4_000, help="trials per power cell (r > 1)")
    parser.add_argument("--quick", action="store_true", help="2,000 / 400 trials: a smoke run, not the figures")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    null_trials, power_trials = (2_000, 400) if args.quick else (args.trials, args.power_trials)

    started = time.perf_counter()
    cells = [Cell(noise, tau, runs, r) for noise in NOISES for tau, runs in DRIFTS for r in REGRESSIONS]
    tallies = run_cells(cells, [null_trials if c.ratio == 1.0 else power_trials for c in cells], args.seed, args.jobs)
    results = dict(zip(cells, tallies, strict=True))

    at_mde = [
        (noise, tau, runs, results[Cell(noise, tau, runs, 1.0)].mean_mde) for noise in NOISES for tau, runs in DRIFTS
    ]
    mde_cells = [Cell(noise, tau, runs, 1 + mde) for noise, tau, runs, mde in at_mde]
    mde_tallies = run_cells(mde_cells, [power_trials] * len(mde_cells), args.seed + 1, args.jobs)
    mde_power = {(noise.label, tau): (mde, t) for (noise, tau, _, mde), t in zip(at_mde, mde_tallies, strict=True)}

    print(
        f"Gate power: n = {N_CURRENT} current, baseline runs of {RUN_SIZE}, two-stage (α1 = {POLICY.alpha1}, "
        f"α2 = {POLICY.alpha_suite}/{SUITE_GATES}), tolerance {100 * TOLERANCE.relative:.0f} %, "
        f"{null_trials} trials per false-alarm cell, {power_trials} per power cell; "
        f"suite = 1 − (1 − p)^{SUITE_GATES} (16 independent gates)."
    )
    print()
    report(results, mde_power)
    check_targets(results, mde_power)
    print(f"\n({time.perf_counter() - started:.0f} s, {args.jobs} processes)")


if __name__ == "__main__":
    main()
