"""The regression gate: is the current sample slower than the baseline, beyond noise and tolerance?

Pure functions (numpy/scipy only) implementing shared/reference/gate.md. Everything works on
logs, with the sign flipped for higher-is-better metrics, so "worse" is always a positive shift
and a 10 % slowdown is the same size at 40 ms and at 4 s.

Decision rule, per scenario × metric, at the stage's α:

* Rank evidence: the Hodges–Lehmann shift θ̂ (median of all pairwise differences) and its
  Mann–Whitney bounds (exact null for n·m ≤ 1000, normal approximation above). Distribution
  free and robust to spikes, but blind to *session drift*: a shift shared by a whole run.
* Drift: τ from the baseline's history once K ≥ ``min_runs_for_tau`` runs exist, else the
  configured prior (the verdict says which). From history: the variance of the runs' 10 %-trimmed
  log means minus what within-run noise explains (Yuen's variance of a trimmed mean), i.e. the
  moment estimate τ̂², clipped at 0, then shrunk by a quarter towards 2.2·w, w being the variance
  of one run's centre: τ² = 0.75·τ̂² + 0.55·w. Three agreeing runs cannot show that drift is
  absent (with K = 3 the data cannot tell τ = 0 from τ = 0.04), so τ² never falls below about
  half a run centre's variance. These two constants (and the 10 % trimming) were tuned by the
  Monte Carlo below to sit between its two binding targets; nothing else was tuned.
* Drift-aware bound: θ̂ minus the rank bound's half-width and z_α·τ·√(1 + Σw_k²) added in
  quadrature (w_k: the baseline runs' shares; 1 + 1/K for K equal runs: the current run's own
  drift plus the baseline's average). It is never above the rank bound, so "rank bound > 0 AND
  drift-aware bound > 0" is this one condition.
* REGRESSION iff the drift-aware lower bound > 0 AND θ̂ > T, with T = max(log(1 + tolerance),
  log(1 + abs_floor / baseline median)); IMPROVEMENT symmetrically (informational). Significant
  but within tolerance is a pass; too few samples for α is INCONCLUSIVE.

Why not the Yuen/Welch t with τ̂² in its variance and τ̂'s uncertainty in the degrees of freedom
(gate.md's suggestion)? It was tried first: at α2 = 0.01/16 a t quantile with the 5–10 degrees
of freedom of trimmed means at n = 10 is far above z, and the Satterthwaite df of τ̂ (K − 1 = 2)
made it worse; it reached 70 % power at +20 % (CV 10 %, K = 3) while still raising 4.7 % suite
false alarms with τ = 0.05, K = 5. The rank half-width is exact at any α, so only the drift term
is approximate, and the shrinkage above stands in for τ̂'s uncertainty.

Two stages: stage 1 at α1; a flagged regression is re-measured and :func:`confirm` decides on the
pooled sample at α2 = α_suite / n_gates with the drift term unchanged (a confirmation inside the
same session shares its drift). The MDE is the smallest regression the two-stage procedure
detects with 80 % power given the observed spread, n, m and τ (see :func:`_mde`).

benchmarks/gate_power.py (n = 10, two-stage, 16 gates; 40,000 trials per false-alarm cell): suite
false alarms 0.00 % without drift (K = 3; CV 10 %, 20 %, spikes), 1.47 % (CV 10 %) and 1.31 %
(spikes) with τ = 0.05 and K = 5; power 82 % at +20 % for CV 10 %; simulated power at the
reported MDE 76–83 %. The price, stated honestly: without drift at CV 20 % the gate sees +44 %,
not +20 % (three runs of that noise cannot rule out 4 % drift), and its MDE says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri
from scipy.stats import binom

Kind = Literal["pass", "regression", "improvement", "inconclusive", "no-baseline", "not-gated"]
TauSource = Literal["history", "prior"]
FloatArray = NDArray[np.float64]
Values = Sequence[float] | FloatArray  # raw samples of one metric, in its own unit

#: Absolute materiality floors in the metric's unit. 20 ms is about one network hiccup on a shared
#: CI runner (scheduling, one extra round trip): a change below it on client-side timings is not
#: actionable even when it is 10 % of a fast request. Server-side times exclude the network, so
#: their floor is the 5 ms of scheduling granularity. Per-token times and throughputs are ratios
#: by nature and get no floor.
DEFAULT_ABS_FLOORS: dict[str, float] = {
    "ttfb": 0.020,
    "ttft": 0.020,
    "e2e": 0.020,
    "decode_time": 0.020,
    "network_overhead": 0.020,
    "server_queue": 0.005,
    "server_prompt": 0.005,
    "server_completion": 0.005,
    "server_total": 0.005,
    "tpot": 0.0,
    "output_tps": 0.0,
    "server_output_tps": 0.0,
}

_EXACT_MAX_PAIRS = 1000  # exact Mann–Whitney null up to n·m = 1000 (cached), normal approximation above
_TRIM = 0.1  # trimming of the per-run centres: sheds a spike per 10 samples, ~97 % efficient if normal
_SHRINK = 0.75  # weight of the history's moment estimate of τ² (module docstring)
_RESOLUTION = 2.2  # what τ² is shrunk towards, in variances of one run's centre (module docstring)
_POWER = 0.8  # the MDE is the shift detected with this probability


@dataclass(frozen=True)
class Tolerance:
    """What change is material: ``relative`` (0.10 = 10 %) or ``abs_floor`` in metric units, the larger.

    For higher-is-better metrics both mean a *drop*: 10 % fewer tokens/s, ``abs_floor`` tok/s less.
    """

    relative: float = 0.10
    abs_floor: float = 0.0

    def __post_init__(self) -> None:
        if not (self.relative >= 0 and math.isfinite(self.relative)):
            raise ValueError(f"tolerance must be a finite fraction >= 0, got {self.relative!r}")
        if not (self.abs_floor >= 0 and math.isfinite(self.abs_floor)):
            raise ValueError(f"absolute tolerance floor must be finite and >= 0, got {self.abs_floor!r}")

    def effective(self, baseline_median: float) -> float:
        """The binding tolerance as a fraction of the baseline median."""
        return max(self.relative, self.abs_floor / baseline_median)


@dataclass(frozen=True)
class GatePolicy:
    """Significance levels and the session-drift prior (see module docstring)."""

    alpha1: float = 0.05
    alpha_suite: float = 0.01
    n_gates: int = 1
    tau_prior: float = 0.05
    min_runs_for_tau: int = 3

    def __post_init__(self) -> None:
        for name in ("alpha1", "alpha_suite"):
            value = getattr(self, name)
            if not 0 < value < 0.5:  # a one-sided bound at α ≥ 0.5 would sit on the wrong side of θ̂
                raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
        if self.n_gates < 1:
            raise ValueError(f"n_gates must be >= 1, got {self.n_gates!r}")
        if not (self.tau_prior >= 0 and math.isfinite(self.tau_prior)):
            raise ValueError(f"tau_prior must be finite and >= 0, got {self.tau_prior!r}")
        if self.min_runs_for_tau < 2:
            raise ValueError(f"min_runs_for_tau must be >= 2 to measure a spread, got {self.min_runs_for_tau!r}")

    @property
    def alpha2(self) -> float:
        return self.alpha_suite / self.n_gates

    def alpha(self, stage: int) -> float:
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}")
        return self.alpha1 if stage == 1 else self.alpha2


@dataclass(frozen=True)
class Verdict:
    """One gate decision, with everything a person needs to judge it.

    ``ratio`` is current/baseline in the metric's own units (tokens/s: 0.7 = 30 % slower);
    ``ratio_bound`` is the one-sided confidence bound on the worse side (latency: the ratio is at
    least this; tokens/s: at most this). ``tolerance`` and ``mde`` are fractions of change in the
    worse direction (0.18 = 18 % slower). ``p_value`` is one-sided, towards improvement for an
    improvement verdict and towards regression otherwise, the larger of the two tests' p-values.
    """

    metric: str
    verdict: Kind
    stage: int
    baseline_p50: float | None
    current_p50: float | None
    ratio: float | None
    ratio_bound: float | None
    tolerance: float
    p_value: float | None
    mde: float | None
    tau: float | None
    tau_source: TauSource | None
    n: int
    m: int
    higher_is_better: bool
    note: str = ""
    stage1: Verdict | None = None
    alpha: float | None = None
    baseline_runs: int = 0

    @property
    def flagged(self) -> bool:
        """A regression at this stage (stage 1: re-measure and :func:`confirm`; stage 2: fail)."""
        return self.verdict == "regression"

    @property
    def needs_confirmation(self) -> bool:
        return self.flagged and self.stage == 1

    def to_json(self) -> dict[str, Any]:
        """The gate entry of results-format.md plus the extra fields (tau, n, m, note, stage1...)."""
        return {
            "metric": self.metric,
            "verdict": self.verdict,
            "stage": self.stage,
            "baseline_p50": self.baseline_p50,
            "current_p50": self.current_p50,
            "ratio": self.ratio,
            "ratio_bound": self.ratio_bound,
            "tolerance": self.tolerance,
            "p_value": self.p_value,
            "mde": self.mde,
            "alpha": self.alpha,
            "tau": self.tau,
            "tau_source": self.tau_source,
            "n": self.n,
            "m": self.m,
            "baseline_runs": self.baseline_runs,
            "higher_is_better": self.higher_is_better,
            "note": self.note,
            "stage1": None if self.stage1 is None else self.stage1.to_json(),
        }


# -- Mann–Whitney / Hodges–Lehmann -----------------------------------------------------------


@lru_cache(maxsize=512)
def _exact_tail(n: int, m: int) -> FloatArray:
    """P0(U ≥ u) for u = 0..n·m under the exact Mann–Whitney null (no ties).

    The counts of U are the coefficients of the Gaussian binomial [n+m choose n]_q, built as
    Π (1 − q^(m+i)) / (1 − q^i) with exact integers (they exceed float precision quickly).
    """
    size = n * m + 1
    counts = [1] + [0] * (size - 1)
    for i in range(1, n + 1):
        step = m + i
        for k in range(size - 1, step - 1, -1):
            counts[k] -= counts[k - step]
        for k in range(i, size):
            counts[k] += counts[k - i]
    total = math.comb(n + m, n)
    tail = np.empty(size)
    running = 0
    for u in range(size - 1, -1, -1):
        running += counts[u]
        tail[u] = running / total
    tail.setflags(write=False)
    return tail


def _critical_count(n: int, m: int, alpha: float) -> int | None:
    """Smallest c with P0(U ≥ c) ≤ α, or None when no count reaches α (too few samples)."""
    pairs = n * m
    if pairs <= _EXACT_MAX_PAIRS:
        tail = _exact_tail(n, m)
        reachable = np.nonzero(tail <= alpha)[0]
        return int(reachable[0]) if reachable.size else None
    sd = math.sqrt(pairs * (n + m + 1) / 12)
    c = math.ceil(pairs / 2 + 0.5 + float(ndtri(1 - alpha)) * sd)
    return c if c <= pairs else None


def _pairwise(x: FloatArray, y: FloatArray) -> FloatArray:
    return np.sort((x[:, None] - y[None, :]).ravel())


def lower_confidence_bound(x: Values, y: Values, alpha: float) -> float | None:
    """One-sided (1 − α) lower bound on the shift of ``x`` over ``y`` (Mann–Whitney inversion).

    The (nm − c_α + 1)-th smallest pairwise difference: exactly the supremum of shifts s for which
    ``scipy.stats.mannwhitneyu(x - s, y, alternative="greater")`` rejects at α. None when n·m is
    too small for any count to reach α.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    c = _critical_count(xs.size, ys.size, alpha)
    if c is None:
        return None
    return float(_pairwise(xs, ys)[xs.size * ys.size - c])


def _rank_p_values(x: FloatArray, y: FloatArray, diffs: FloatArray) -> tuple[float, float]:
    """One-sided Mann–Whitney p-values at shift 0: (x larger, x smaller), as scipy computes them."""
    n, m = x.size, y.size
    u_greater = float(np.count_nonzero(diffs > 0) + 0.5 * np.count_nonzero(diffs == 0))
    u_less = n * m - u_greater
    pooled = np.concatenate([x, y])
    _, tie_sizes = np.unique(pooled, return_counts=True)
    if n * m <= _EXACT_MAX_PAIRS and tie_sizes.max() == 1:
        tail = _exact_tail(n, m)
        return float(tail[int(u_greater)]), float(tail[int(u_less)])
    total = n + m
    tie_term = float(np.sum(tie_sizes.astype(float) ** 3 - tie_sizes))
    variance = n * m / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    if variance <= 0:
        return 1.0, 1.0
    sd = math.sqrt(variance)
    return (
        float(ndtr(-(u_greater - n * m / 2 - 0.5) / sd)),
        float(ndtr(-(u_less - n * m / 2 - 0.5) / sd)),
    )


def _min_n_for_alpha(m: int, alpha: float) -> int:
    """The fewest current samples whose best possible rank p-value, 1 / C(n+m, n), reaches α."""
    n = 1
    while 1 / math.comb(n + m, n) > alpha:
        n += 1
    return n


# -- drift-aware Yuen/Welch statistic --------------------------------------------------------


@dataclass(frozen=True)
class _Trimmed:
    """A trimmed mean (``_TRIM`` per side) and Yuen's winsorized estimate of that mean's variance."""

    mean: float
    variance: float

    @classmethod
    def of(cls, values: FloatArray) -> _Trimmed:
        n = values.size
        g = int(_TRIM * n)
        ordered = np.sort(values)
        kept = n - 2 * g
        winsorized = np.clip(ordered, ordered[g], ordered[n - 1 - g])
        variance = (n - 1) * float(np.var(winsorized, ddof=1)) / (kept * (kept - 1))
        return cls(float(np.mean(ordered[g : n - g])), variance)


@dataclass(frozen=True)
class _Drift:
    """Session drift on the log scale and where it came from (module docstring).

    ``tau`` is what the test uses (shrunk towards the resolution floor, so a few agreeing runs do
    not claim "no drift"); ``unbiased`` is the plain moment estimate, the better prediction of how
    far the shift estimate actually scatters, which is what the MDE's power term needs.
    """

    tau: float
    source: TauSource
    unbiased: float

    @classmethod
    def estimate(cls, runs: Sequence[FloatArray], policy: GatePolicy) -> _Drift:
        usable = [_Trimmed.of(run) for run in runs if run.size >= 2]
        if len(usable) < policy.min_runs_for_tau:
            return cls(policy.tau_prior, "prior", policy.tau_prior)
        within = float(np.mean([t.variance for t in usable]))
        moment = max(0.0, float(np.var([t.mean for t in usable], ddof=1)) - within)
        shrunk = _SHRINK * moment + (1 - _SHRINK) * _RESOLUTION * within
        return cls(math.sqrt(shrunk), "history", math.sqrt(moment))


@dataclass(frozen=True)
class _Evidence:
    """Rank and drift evidence for one comparison, on direction-normalised logs."""

    shift: float  # Hodges–Lehmann
    rank_lcb: float
    rank_ucb: float
    rank_p_worse: float
    rank_p_better: float
    drift_var: float  # a·τ², the drift's share of the shift estimate's variance
    spread_var: float  # the same with the unbiased τ: for power, not for the test
    z: float  # the one-sided normal quantile of the stage's α

    @property
    def rank_se(self) -> float:
        """Standard error of θ̂ from within-run noise, read off the rank interval's width."""
        return (self.rank_ucb - self.rank_lcb) / (2 * self.z)

    @property
    def lcb(self) -> float:
        return self.shift - math.hypot(self.shift - self.rank_lcb, self.z * math.sqrt(self.drift_var))

    @property
    def ucb(self) -> float:
        return self.shift + math.hypot(self.rank_ucb - self.shift, self.z * math.sqrt(self.drift_var))

    def p_values(self) -> tuple[float, float]:
        """One-sided p-values (worse, better): the larger of the rank test's and the drift-aware one's."""
        se = math.hypot(self.rank_se, math.sqrt(self.drift_var))
        if se == 0:
            drift_worse, drift_better = (0.0, 1.0) if self.shift > 0 else (1.0, 0.0 if self.shift < 0 else 1.0)
        else:
            drift_worse, drift_better = float(ndtr(-self.shift / se)), float(ndtr(self.shift / se))
        return max(self.rank_p_worse, drift_worse), max(self.rank_p_better, drift_better)


def _materiality(tolerance: Tolerance, baseline_median: float, higher_is_better: bool) -> float:
    """T on the direction-normalised log scale; the effective tolerance is a change of that size."""
    fraction = tolerance.effective(baseline_median)
    if not higher_is_better:
        return math.log1p(fraction)
    return math.inf if fraction >= 1 else -math.log1p(-fraction)


def _as_fraction(log_shift: float, higher_is_better: bool) -> float:
    """A worse-side log shift as a fraction of change in the metric's own direction."""
    return -math.expm1(-log_shift) if higher_is_better else math.expm1(log_shift)


def _mde(evidence: _Evidence, n: int, m: int, threshold: float, policy: GatePolicy, stage: int) -> float:
    """Smallest log shift the two-stage procedure detects with 80 % power (normal approximation).

    Stage s flags when θ̂ exceeds h_s = max(z_α·SE_s, T), where SE_s combines within-run noise
    (scaled to the stage's sample size) and the test's drift term; θ̂ scatters around the true
    shift by the within-run noise and the *unbiased* drift. The procedure's power is taken as the
    product of the stages' (a confirmation doubles the stage-1 sample), solved for 80 %.
    """
    if not math.isfinite(threshold):
        return math.inf  # a tolerance of a 100 % drop: nothing is material
    first_n = n if stage == 1 else max(2, n // 2)
    stages = []
    for stage_n, alpha in ((first_n, policy.alpha1), (2 * first_n, policy.alpha2)):
        within = evidence.rank_se * math.sqrt((1 / stage_n + 1 / m) / (1 / n + 1 / m))
        se = math.hypot(within, math.sqrt(evidence.drift_var))
        scatter = math.hypot(within, math.sqrt(evidence.spread_var))
        stages.append((max(float(ndtri(1 - alpha)) * se, threshold), scatter))

    def power(shift: float) -> float:
        return math.prod(_normal_cdf(shift - bar, scatter) for bar, scatter in stages)

    low, high = 0.0, max(bar + 4 * scatter for bar, scatter in stages)
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle) < _POWER else (low, middle)
    return high


def _normal_cdf(x: float, scale: float) -> float:
    """P(N(0, scale²) ≤ x), with a zero scale meaning a point mass at 0."""
    if scale == 0:
        return 1.0 if x >= 0 else 0.0
    return 0.5 * math.erfc(-x / (scale * math.sqrt(2)))


def _direction_logs(values: Values, higher_is_better: bool) -> FloatArray:
    logs: FloatArray = np.log(np.asarray(values, dtype=float))
    return -logs if higher_is_better else logs


def _unusable(values: Values) -> int:
    return sum(1 for v in values if not (math.isfinite(v) and v > 0))


def gate_metric(
    metric: str,
    current: Values,
    baseline_runs: Sequence[Values],
    *,
    higher_is_better: bool,
    tolerance: Tolerance,
    policy: GatePolicy,
    stage: int = 1,
) -> Verdict:
    """Decide one metric: current sample vs the baseline's runs (each run a list of raw values)."""
    alpha = policy.alpha(stage)
    runs = [list(run) for run in baseline_runs if len(run) > 0]
    pooled = [v for run in runs for v in run]
    n, m = len(current), len(pooled)
    undecided = Verdict(
        metric=metric,
        verdict="inconclusive",
        stage=stage,
        baseline_p50=float(np.median(pooled)) if m else None,
        current_p50=float(np.median(current)) if n else None,
        ratio=None,
        ratio_bound=None,
        tolerance=tolerance.relative,
        p_value=None,
        mde=None,
        tau=None,
        tau_source=None,
        n=n,
        m=m,
        higher_is_better=higher_is_better,
        alpha=alpha,
        baseline_runs=len(runs),
    )
    reason = _why_undecidable(current, pooled, alpha)
    if reason is not None:
        kind, note = reason
        return replace(undecided, verdict=kind, note=note)
    return _decide(undecided, current, runs, tolerance, policy)


def _why_undecidable(current: Values, pooled: Values, alpha: float) -> tuple[Kind, str] | None:
    n, m = len(current), len(pooled)
    if m == 0:
        return "no-baseline", "no baseline for this metric: run with --perf-save to record one"
    if n == 0:
        return "inconclusive", "no current samples to compare"
    bad = _unusable(current) + _unusable(pooled)
    if bad:
        return "inconclusive", f"{bad} non-positive or non-finite value(s): the gate compares logs"
    if n < 2 or m < 2:
        return "inconclusive", f"need at least 2 current and 2 baseline samples (n = {n}, m = {m})"
    if _critical_count(n, m, alpha) is None:
        needed = _min_n_for_alpha(m, alpha)
        return (
            "inconclusive",
            f"too few samples: n = {n} vs m = {m} cannot reach α = {alpha:.3g} (needs n ≥ {needed})",
        )
    return None


def _decide(
    undecided: Verdict,
    current: Values,
    runs: Sequence[Values],
    tolerance: Tolerance,
    policy: GatePolicy,
) -> Verdict:
    """The rule of the module docstring, on samples already known to be usable."""
    higher_is_better = undecided.higher_is_better
    x = _direction_logs(current, higher_is_better)
    log_runs = [_direction_logs(run, higher_is_better) for run in runs]
    drift = _Drift.estimate(log_runs, policy)
    evidence = _evidence(x, log_runs, drift, policy.alpha(undecided.stage))
    baseline_median = undecided.baseline_p50
    assert baseline_median is not None  # a baseline exists, checked by _why_undecidable
    threshold = _materiality(tolerance, baseline_median, higher_is_better)
    shift, lcb, ucb = evidence.shift, evidence.lcb, evidence.ucb

    note = ""
    kind: Kind = "pass"
    if lcb > 0 and shift > threshold:
        kind = "regression"
    elif ucb < 0 and shift < -threshold:
        kind = "improvement"
    elif lcb > 0:
        note = "significant but within tolerance"
    elif shift > threshold:
        note = "change beyond tolerance but within noise (not significant)"
    p_worse, p_better = evidence.p_values()
    sign = -1.0 if higher_is_better else 1.0
    mde = _mde(evidence, x.size, undecided.m, threshold, policy, undecided.stage)
    return replace(
        undecided,
        verdict=kind,
        ratio=math.exp(sign * shift),
        ratio_bound=math.exp(sign * lcb),
        tolerance=tolerance.effective(baseline_median),
        p_value=p_better if kind == "improvement" else p_worse,
        mde=_as_fraction(mde, higher_is_better) if math.isfinite(mde) else None,
        tau=drift.tau,
        tau_source=drift.source,
        note=note,
    )


def _evidence(x: FloatArray, log_runs: Sequence[FloatArray], drift: _Drift, alpha: float) -> _Evidence:
    y = np.concatenate(log_runs)
    n, m = x.size, y.size
    c = _critical_count(n, m, alpha)
    assert c is not None  # checked by _why_undecidable
    diffs = _pairwise(x, y)
    rank_worse, rank_better = _rank_p_values(x, y, diffs)
    sizes = np.array([run.size for run in log_runs], dtype=float)
    weight = 1 + float(np.sum((sizes / m) ** 2))  # the current run's drift + the baseline runs' average
    return _Evidence(
        shift=float(np.median(diffs)),
        rank_lcb=float(diffs[n * m - c]),
        rank_ucb=float(diffs[c - 1]),
        rank_p_worse=rank_worse,
        rank_p_better=rank_better,
        drift_var=drift.tau**2 * weight,
        spread_var=drift.unbiased**2 * weight,
        z=float(ndtri(1 - alpha)),
    )


def confirm(
    stage1: Verdict,
    pooled_current: Values,
    baseline_runs: Sequence[Values],
    *,
    higher_is_better: bool,
    tolerance: Tolerance,
    policy: GatePolicy,
) -> Verdict:
    """Stage 2: decide on the pooled (stage-1 + confirmation) sample at α2.

    A regression stands only if stage 2 confirms it; otherwise the result is INCONCLUSIVE, a
    warning rather than a failure. A stage-1 verdict that flagged nothing is returned unchanged.
    """
    if not stage1.needs_confirmation:
        return stage1
    stage2 = gate_metric(
        stage1.metric,
        pooled_current,
        baseline_runs,
        higher_is_better=higher_is_better,
        tolerance=tolerance,
        policy=policy,
        stage=2,
    )
    if stage2.verdict == "regression":
        return replace(stage2, stage1=stage1)
    note = f"stage 1 flagged a regression; the confirmation did not confirm it at α2 = {policy.alpha2:.3g}"
    if stage2.note:
        note += f" ({stage2.note})"
    return replace(stage2, verdict="inconclusive", note=note, stage1=stage1)


def gate_error_rate(
    current_failed: int,
    current_attempted: int,
    baseline_rates: Sequence[float],
    margin: float = 0.05,
    alpha: float = 0.01,
) -> Verdict:
    """More failed requests than the baseline by more than ``margin`` (absolute) fails.

    Whatever the latencies: a faster endpoint that drops requests is not faster. But one failed
    request in ten is what a 5 % error rate produces a third of the time, so the excess must also
    be significant: a one-sided binomial test against ``baseline + margin`` at ``alpha``. An
    excess that is not significant is ``inconclusive`` (shown, never failed). The baseline rate is
    the mean of the given runs' rates; ``baseline_p50``/``current_p50`` carry the rates
    themselves (fractions) so the report can show them like any other gate.
    """
    current_rate = current_failed / current_attempted if current_attempted else None
    baseline_rate = float(np.mean(baseline_rates)) if len(baseline_rates) else None
    undecided = Verdict(
        metric="error_rate",
        verdict="inconclusive",
        stage=1,
        baseline_p50=baseline_rate,
        current_p50=current_rate,
        ratio=None,
        ratio_bound=None,
        tolerance=margin,
        p_value=None,
        mde=None,
        tau=None,
        tau_source=None,
        n=current_attempted,
        m=len(baseline_rates),
        higher_is_better=False,
        baseline_runs=len(baseline_rates),
    )
    if baseline_rate is None:
        return replace(undecided, verdict="no-baseline", note="no baseline error rate recorded")
    if current_rate is None:
        return replace(undecided, note="no requests attempted")
    change = current_rate - baseline_rate
    allowed = min(1.0, baseline_rate + margin)
    p_value = float(binom.sf(current_failed - 1, current_attempted, allowed)) if current_failed else 1.0
    kind: Kind = "improvement" if change < -margin else "pass"
    if change > margin:
        kind = "regression" if p_value < alpha else "inconclusive"
    note = (
        f"{current_failed}/{current_attempted} requests failed ({100 * current_rate:.1f} %) vs "
        f"{100 * baseline_rate:.1f} % in the baseline (margin +{100 * margin:.1f} points, "
        f"binomial p = {p_value:.2g})"
    )
    return replace(undecided, verdict=kind, note=note, p_value=p_value)
