"""Monte Carlo of the interleaved A/B gate (ab_gate.py) beside the baseline gate at the same requests.

A suite is 16 gates measured in one session. The session's drift, a log shift N(0, τ²), is shared
by every gate, by A and B, and by the confirmation (same session). Within-run noise is log-normal
σ = 0.1 (CV 10 %) or AR(1) ρ = 0.5, σ = 0.1 along the order the requests were sent: A and B
alternate in the randomized balanced blocks of ``load.block_orders`` (the plugin's own orders),
n = 20 blocks (20 requests a side), then 20 blocks more if stage 1 flags. B's samples are
multiplied by r (1 for false alarms).

Beside it, the baseline gate (gate.py) at the same number of requests: 20 current requests (and a
20-request confirmation in the same session) against a baseline of K = 2 stored runs of 10 on two
other days, with the drift prior set to the true τ (its most favourable setting: a real baseline
has to estimate τ, or guess it).

Both gates run through the plugin's own functions (``gate_paired`` / ``confirm_paired``,
``gate_metric`` / ``confirm``). Speed without changing a count: a gate can only flag when its
Hodges–Lehmann shift exceeds log(1 + tolerance), one of the rule's conditions, so that median is
computed for all gates with numpy and only gates above it are decided by the real functions.

    python benchmarks/ab_power.py            # 4,000 suites per false-alarm cell, 2,000 gates per power cell
    python benchmarks/ab_power.py --quick    # a smoke run, numbers only indicative
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from pytest_cerebras_perf.ab_gate import Paired, confirm_paired, gate_paired
from pytest_cerebras_perf.gate import Comparison, FloatArray, GatePolicy, Tolerance, confirm, gate_metric
from pytest_cerebras_perf.load import block_orders

GATES = 16
BLOCKS = 20  # A/B pairs of stage 1 (20 requests a side); the baseline gate gets 20 current requests
BASELINE_RUNS, BASELINE_RUN_SIZE = 2, 10  # the baseline gate's 20 stored requests, two days
SIGMA, RHO = 0.1, 0.5
TAUS = (0.0, 0.05, 0.10)
METRIC = "e2e"
Noise = Callable[[np.random.Generator, int], FloatArray]  # log noise of one sequence of requests


def lognormal(rng: np.random.Generator, length: int) -> FloatArray:
    return rng.normal(0.0, SIGMA, length)


def ar1(rng: np.random.Generator, length: int) -> FloatArray:
    """Stationary AR(1) along the sequence: successive requests share load and caches."""
    shocks = rng.normal(0.0, SIGMA * math.sqrt(1 - RHO * RHO), length)
    out = np.empty(length)
    out[0] = rng.normal(0.0, SIGMA)
    for i in range(1, length):
        out[i] = RHO * out[i - 1] + shocks[i]
    return out


NOISES: dict[str, Noise] = {"CV 10 %": lognormal, "AR(1) ρ=0.5": ar1}


@dataclass(frozen=True)
class Cell:
    noise: str
    tau: float
    ratio: float
    tolerance: float


def interleaved(
    rng: np.random.Generator, noise: Noise, drift: float, ratio: float, seed: int
) -> tuple[FloatArray, FloatArray]:
    """A's and B's values of 2 × BLOCKS blocks (stage 1, then the confirmation), in block order."""
    blocks = 2 * BLOCKS
    logs = drift + noise(rng, 2 * blocks)
    a_first = np.array(block_orders(BLOCKS, seed) + block_orders(BLOCKS, seed + 7919))
    first, second = logs[0::2], logs[1::2]
    a = np.where(a_first, first, second)
    b = np.where(a_first, second, first)
    return np.exp(a), ratio * np.exp(b)


def hodges_lehmann_paired(a: FloatArray, b: FloatArray) -> float:
    d = np.log(b) - np.log(a)
    upper = np.triu_indices(d.size)
    return float(np.median(((d[:, None] + d[None, :]) / 2)[upper]))


def ab_regresses(a: FloatArray, b: FloatArray, tolerance: Tolerance, policy: GatePolicy) -> bool:
    if hodges_lehmann_paired(a[:BLOCKS], b[:BLOCKS]) <= math.log1p(tolerance.relative):
        return False  # cannot flag: the shift is not material
    stage1 = gate_paired(
        METRIC, Paired.of(a[:BLOCKS], b[:BLOCKS]), higher_is_better=False, tolerance=tolerance, policy=policy
    )
    verdict = confirm_paired(stage1, Paired.of(a, b), higher_is_better=False, tolerance=tolerance, policy=policy)
    return verdict.verdict == "regression"


def baseline_regresses(current: FloatArray, runs: list[FloatArray], tolerance: Tolerance, policy: GatePolicy) -> bool:
    pooled = np.concatenate(runs)
    shift = float(np.median(np.log(current[:BLOCKS])[:, None] - np.log(pooled)[None, :]))
    if shift <= math.log1p(tolerance.relative):
        return False
    against = Comparison(runs, higher_is_better=False, tolerance=tolerance, policy=policy)
    verdict = confirm(gate_metric(METRIC, current[:BLOCKS], against), current, against)
    return verdict.verdict == "regression"


def simulate(cell: Cell, suites: int, gates: int, seed: int) -> tuple[int, int, int, int]:
    """(A/B suites that alarmed, baseline-gate suites that alarmed, A/B gates flagged, baseline gates flagged)."""
    rng = np.random.default_rng(seed)
    noise = NOISES[cell.noise]
    tolerance = Tolerance(cell.tolerance)
    ab_policy = GatePolicy(alpha_suite=0.01, tau_prior=0.0, n_gates=GATES)  # no drift term in A/B
    baseline_policy = GatePolicy(alpha_suite=0.01, n_gates=GATES, tau_prior=max(cell.tau, 0.01))
    ab_suites = baseline_suites = ab_gates = baseline_gates = 0
    for suite in range(suites):
        session = rng.normal(0.0, cell.tau)
        days = rng.normal(0.0, cell.tau, BASELINE_RUNS)
        ab_hits = baseline_hits = 0
        for gate in range(gates):
            a, b = interleaved(rng, noise, session, cell.ratio, seed=suite * GATES + gate)
            ab_hits += ab_regresses(a, b, tolerance, ab_policy)
            current = cell.ratio * np.exp(session + noise(rng, 2 * BLOCKS))
            runs = [np.exp(day + noise(rng, BASELINE_RUN_SIZE)) for day in days]
            baseline_hits += baseline_regresses(current, runs, tolerance, baseline_policy)
        ab_suites += ab_hits > 0
        baseline_suites += baseline_hits > 0
        ab_gates += ab_hits
        baseline_gates += baseline_hits
    return ab_suites, baseline_suites, ab_gates, baseline_gates


def upper(count: int, total: int) -> float:
    """One-sided 95 % Clopper–Pearson upper bound of a rate."""
    return 1.0 if count >= total else float(beta.ppf(0.95, count + 1, total - count))


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:5.2f} % (≤ {100 * upper(count, total):.2f} %)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    suites, power_gates = (300, 300) if args.quick else (4000, 2000)
    started = time.monotonic()
    print(
        f"{GATES} gates a suite sharing one session drift N(0, τ²); A/B: {BLOCKS} blocks (+{BLOCKS} to confirm), "
        f"paired, no drift term; baseline gate: {BLOCKS} current (+{BLOCKS}) vs {BASELINE_RUNS} runs × "
        f"{BASELINE_RUN_SIZE} on other days, τ prior = true τ.\n"
    )
    print(f"Suite false alarms, tolerance 10 %, {suites} suites a cell (one-sided 95 % upper bound):")
    print(f"{'noise':12} {'τ':>5}  {'A/B gate':>22}  {'baseline gate':>22}")
    for noise in NOISES:
        for tau in TAUS:
            ab, base, _, _ = simulate(Cell(noise, tau, 1.0, 0.10), suites, GATES, seed=int(1000 * tau) + len(noise))
            print(f"{noise:12} {tau:5.2f}  {pct(ab, suites):>22}  {pct(base, suites):>22}", flush=True)
    print(f"\nPower per gate at +12 %, tolerance 5 %, {power_gates} gates a cell:")
    print(f"{'noise':12} {'τ':>5}  {'A/B gate':>10}  {'baseline gate':>14}")
    for noise in NOISES:
        for tau in TAUS:
            cell = Cell(noise, tau, 1.12, 0.05)
            _, _, ab, base = simulate(cell, power_gates, 1, seed=7 + int(1000 * tau) + len(noise))
            print(
                f"{noise:12} {tau:5.2f}  {100 * ab / power_gates:9.1f} %  {100 * base / power_gates:13.1f} %",
                flush=True,
            )
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
