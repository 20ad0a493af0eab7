"""The regression gate: is the current sample slower than the baseline, beyond noise and tolerance?

Pure functions (numpy/scipy only) implementing docs/gate.md. Everything works on
logs, with the sign flipped for higher-is-better metrics, so "worse" is always a positive shift
and a 10 % slowdown is the same size at 40 ms and at 4 s.

Decision rule, per scenario × metric, at the stage's α:

* Usable values: non-positive and non-finite values cannot be logged; they are left out and
  counted (``dropped``, and the note), so one 0.0 does not switch a metric's gate off.
* Rank evidence: the Hodges–Lehmann shift θ̂ (median of all pairwise differences) and its
  Mann–Whitney bounds (exact null for n·m ≤ 1000, normal approximation above). Distribution
  free and robust to spikes, ties and coarse timers, but it assumes independent requests and is
  blind to *session drift*: a shift shared by a whole run.
* Autocorrelation: successive requests of a run share load and caches. The lag-1
  autocorrelation ρ̂ of the logs, pooled over every stored run and the current one (each centred
  on its own mean, so drift does not count), widens the rank bounds by √((1 + ρ)/(1 − ρ)), ρ in
  [0, 0.8]. ρ̂ of runs of 10 is biased low by about (1 + 3ρ)/n and is not corrected: the
  correction's noise cost a tenth of the power on independent requests, and what ρ̂ misses shows
  up in the spread of the run centres, which τ below carries.
* Drift from the stored history, not only the K pooled runs (baselines keep the last 20): the
  10 %-trimmed log mean of each *session* (runs accepted less than ``session_gap``, 1 h, apart
  are pooled into one: back-to-back saves share one drift and say nothing about day-to-day
  drift), and Yuen's variance w of such a centre (times the autocorrelation factor). The moment
  estimate τ̂² = max(0, var(centres) − w̄) with ν = sessions − 1 degrees of freedom is inflated
  for its own uncertainty to an upper estimate ν·τ̂²/χ²_ν(q) (q = 0.75 for the scenario's own
  τ: ×0.72 at ν = 2, so three agreeing runs may still show a calm endpoint), plus a floor of
  0.45·w̄: a few agreeing runs cannot show that drift is absent. Fewer than ``min_runs_for_tau``
  sessions, or constant samples (no evidence at all): the configured prior, and the verdict says
  so (``tau_source``, ``tau_runs``).
* Drift pooled over the suite (:func:`suite_drift`): drift is mostly the endpoint's, shared by
  every scenario of a session. The scenarios' moment estimates of one metric are averaged and
  inflated with the degrees of freedom of one scenario (the sessions are the same days) at
  q = 0.25 (×3.5 at ν = 2); the test uses the larger of this and the scenario's own τ. Without
  it the suite's false alarms were the minimum over 16 noisy per-scenario τ̂ (6–7 % at τ = 0.10,
  K = 3); with it they are those of one well-estimated τ.
* Drift-aware bound: θ̂ minus the rank bound's half-width and z_α·τ·√(1 + Σw_s²) added in
  quadrature (w_s: the baseline sessions' shares of the pooled sample; 1 + 1/K for K runs on
  K days: the current session's drift plus the baseline's average). It is never above the rank
  bound, so "rank bound > 0 AND drift-aware bound > 0" is this one condition.
* REGRESSION iff the drift-aware lower bound > 0 AND θ̂ > T, with T = max(log(1 + tolerance),
  log(1 + abs_floor / baseline median)); IMPROVEMENT symmetrically (informational). Significant
  but within tolerance is a pass; too few samples for α is INCONCLUSIVE. When the absolute floor
  is the binding tolerance the note says how large it is relative to the baseline. A default
  floor scales with the endpoint: it is at most ``FLOOR_MAX_SHARE`` (25 %) of the baseline median,
  so a 20 ms floor cannot make a 5 ms local server's tolerance 400 %; a configured floor that
  does lift the tolerance above that share is honoured, and the pass is ``underpowered`` with
  ``floor_disabled`` (the floor, not the noise, keeps the gate from seeing its tolerance).
* UNDERPOWERED: a pass whose noise alone (the MDE below without the floor T) would hide a
  regression of the tolerance's size, with ``iterations_needed``, the current sample size that
  would bring it under (None when the drift term alone is too large: more baseline runs, or
  interleaved A/B, are the remedy, not more iterations).
* DRIFTING: a least-squares line through the trimmed log centres of the stored runs and the
  current one (at least 4 runs); its slope's one-sided t-test (residuals carry drift and noise
  alike) at α_suite, and a total change above T. Reported on a pass; it fails the test only with
  ``GatePolicy.fail_on_drift`` (``--perf-fail-on-drift``). A rolling baseline absorbs a slow
  slide; the trend does not.

Two stages: stage 1 at α1; a flagged regression is re-measured and :func:`confirm` decides on the
pooled sample at α2 = α_suite / n_gates with the drift term unchanged. The confirmation shares the
session's drift, so it guards against within-run noise only: against drift the bar itself must
hold, which is why the drift term enters both stages at the stage's α. The MDE is the smallest
regression the two-stage procedure detects with 80 % power given the observed spread, n, m and τ
(see :func:`_mde`); its scatter uses τ̂ shrunk towards the prior (weight 10 degrees of freedom),
which keeps it calibrated trial by trial, not only on average.

Constants tuned by benchmarks/gate_power.py (q own/suite, the 0.45 floor, the prior's weight in
the MDE): nothing else was tuned. Figures (``python benchmarks/gate_power.py``; n = 10 a run, 16
gates sharing every run's drift, the confirmation sharing the current run's): suite false alarms
without drift ≤ 0.06 % for all seven noise models (20,000 suites each; AR(1) 0.00 % at K = 3 and
5; beside median:10% 21–91 %, mean:10% 7–97 %, a 0.99 t-test bound 16–81 % and Mann–Whitney 54–94
% on the same draws); 0.69 % at τ = 0.05, K = 5 (CV 10 %, 20,000 suites; median:10% 36 %, mean:10%
27 %); on 2,000 suites a cell: 0.95 % at τ = 0.10, K = 5, 1.80 % at τ = 0.10, K = 3 (CV 10 %;
spikes 2.20 %, AR(1) 0.00–0.20 %; the 20,000-suite rows of the other drift cells did not finish on
the shared machine); power 82.8 % at +20 % (CV 10 %, no drift, K = 3; 2,000 gates); simulated
power at each trial's own reported MDE, by fifth of MDE, 73–83 % (AR(1), τ = 0.05, K = 3). The
price, stated honestly: AR(1) requests see +20 % in 42 % of runs, CV 20 % in 8 %, and with τ =
0.10 a single run sees +20 % in 19 %: the MDE and ``underpowered`` say so, and more baseline runs
or interleaved A/B are the cure, not a looser gate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtri, ndtr, ndtri, stdtr
from scipy.stats import binom

from .results_doc import GateDoc, TauSource, VerdictKind

Kind = VerdictKind
FloatArray = NDArray[np.float64]
Values = Sequence[float] | FloatArray  # raw samples of one metric, in its own unit


@dataclass(frozen=True)
class StoredRun:
    """One stored accepted run of one metric, for τ and the trend: its samples and when it was accepted.

    ``accepted`` is POSIX seconds, None when unknown (then the run counts as its own session).
    """

    values: Values
    accepted: float | None = None


#: A default floor is at most this share of the baseline median. 20 ms is a cloud endpoint's
#: network hiccup; a 5 ms local server has no such hiccup, and a fixed 20 ms there would be a 400 %
#: tolerance: its latency gates off, a 2.5× slowdown passing (issue 19, #10). Capped, a default
#: floor can raise a 10 % tolerance to 25 % on the fastest endpoint, never switch the gate off.
#: A floor configured explicitly (scenarios.yaml ``abs_floor``) is honoured as given; when it
#: lifts the tolerance above this share the verdict says the floor disables the gate.
FLOOR_MAX_SHARE = 0.25

_EXACT_MAX_PAIRS = 1000  # exact Mann–Whitney null up to n·m = 1000 (cached), normal approximation above
_TRIM = 0.1  # trimming of the per-run centres: sheds a spike per 10 samples, ~97 % efficient if normal
_TAU_QUANTILE = 0.25  # the suite's τ̂² is inflated to ν·τ̂²/χ²_ν(q): an upper estimate, wide with few sessions
_OWN_TAU_QUANTILE = 0.75  # the same for one scenario's own τ̂² (module docstring)
_RESOLUTION = 0.45  # floor of τ², in variances of one session's centre (module docstring)
_PRIOR_WEIGHT = 10.0  # the prior τ's weight, in degrees of freedom, in the MDE's predicted scatter
_MAX_AUTOCORRELATION = 0.8  # ρ above this is not estimable from short runs
_TREND_MIN_RUNS = 4  # runs (stored + current) for a trend line with 2 degrees of freedom
_POWER = 0.8  # the MDE is the shift detected with this probability


@dataclass(frozen=True)
class Tolerance:
    """What change is material: ``relative`` (0.10 = 10 %) or ``abs_floor`` in metric units, the larger.

    For higher-is-better metrics both mean a *drop*: 10 % fewer tokens/s, ``abs_floor`` tok/s less.
    ``floor_scales``: the floor is a default one, capped at :data:`FLOOR_MAX_SHARE` of the baseline
    median so it cannot switch a fast endpoint's gate off; False for a floor the user configured.
    """

    relative: float  # --perf-tolerance, or a scenario's override
    abs_floor: float = 0.0
    floor_scales: bool = True

    def __post_init__(self) -> None:
        if not (self.relative >= 0 and math.isfinite(self.relative)):
            raise ValueError(f"tolerance must be a finite fraction >= 0, got {self.relative!r}")
        if not (self.abs_floor >= 0 and math.isfinite(self.abs_floor)):
            raise ValueError(f"absolute tolerance floor must be finite and >= 0, got {self.abs_floor!r}")

    def floor(self, baseline_median: float) -> float:
        """The absolute floor in force at this baseline median, in the metric's unit."""
        return min(self.abs_floor, FLOOR_MAX_SHARE * baseline_median) if self.floor_scales else self.abs_floor

    def effective(self, baseline_median: float) -> float:
        """The binding tolerance as a fraction of the baseline median."""
        return max(self.relative, self.floor(baseline_median) / baseline_median)

    def floor_disables(self, baseline_median: float) -> bool:
        """Does the floor lift the tolerance beyond what any default floor may (the gate is off)?"""
        return self.effective(baseline_median) > max(self.relative, FLOOR_MAX_SHARE)


@dataclass(frozen=True)
class GatePolicy:
    """Significance levels and the session-drift prior (see module docstring)."""

    alpha_suite: float  # --perf-alpha
    tau_prior: float  # PerfSession.tau_prior: the live or the emulator's drift
    alpha1: float = 0.05
    n_gates: int = 1
    min_runs_for_tau: int = 3
    #: a ``drifting`` verdict fails the test (opt-in: ``--perf-fail-on-drift``); otherwise it is reported
    fail_on_drift: bool = False
    #: runs accepted less than this many seconds apart count as one session for τ (issue 19: drift
    #: measured between back-to-back saves is not day-to-day drift)
    session_gap: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("alpha1", "alpha_suite"):
            value = getattr(self, name)
            if not 0 < value < 0.5:  # a one-sided bound at α ≥ 0.5 would sit on the wrong side of θ̂
                raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
        if self.n_gates < 1:
            raise ValueError(f"n_gates must be >= 1, got {self.n_gates!r}")
        if not (self.tau_prior >= 0 and math.isfinite(self.tau_prior)):
            raise ValueError(f"tau_prior must be finite and >= 0, got {self.tau_prior!r}")
        if not (self.session_gap >= 0 and math.isfinite(self.session_gap)):
            raise ValueError(f"session_gap must be finite and >= 0 seconds, got {self.session_gap!r}")
        if self.min_runs_for_tau < 2:
            raise ValueError(f"min_runs_for_tau must be >= 2 to measure a spread, got {self.min_runs_for_tau!r}")

    @property
    def alpha2(self) -> float:
        return self.alpha_suite / self.n_gates

    def alpha(self, stage: int) -> float:
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}")
        return self.alpha1 if stage == 1 else self.alpha2


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One gate decision, with everything a person needs to judge it.

    A statistic not given is None (a count 0): a verdict of only a metric, a kind and a direction
    is a decision without estimates (not gated, no baseline, too few samples, or the start of one),
    which no reader can mistake for a measured change.

    ``ratio`` is current/baseline in the metric's own units (tokens/s: 0.7 = 30 % slower);
    ``ratio_bound`` is the one-sided confidence bound on the worse side (latency: the ratio is at
    least this; tokens/s: at most this). ``tolerance`` and ``mde`` are fractions of change in the
    worse direction (0.18 = 18 % slower). ``p_value`` is one-sided, towards improvement for an
    improvement verdict and towards regression otherwise, the larger of the two tests' p-values.

    ``iterations_needed``: for an ``underpowered`` verdict, the current sample size n (requests
    measured, so iterations × concurrency) at which the MDE would fall under the tolerance, or
    None when no n can (the drift term alone exceeds it: more baseline runs are the remedy).
    ``trend`` is the total change (fraction, worse side positive) fitted across the stored runs
    and the current one, ``trend_p_value`` its one-sided p-value, ``trend_runs`` how many runs
    the fit used (0: too few for a trend). ``dropped`` counts non-positive or non-finite values
    left out (current and baseline). ``tau_runs`` is how many baseline sessions τ was estimated
    from (runs accepted within ``GatePolicy.session_gap`` of each other count once).
    ``fail_on_drift`` is the policy flag, so :attr:`fails` can say what fails the test.
    """

    metric: str
    verdict: Kind
    stage: int = 1
    baseline_p50: float | None = None
    current_p50: float | None = None
    ratio: float | None = None
    ratio_bound: float | None = None
    tolerance: float = 0.0
    p_value: float | None = None
    mde: float | None = None
    tau: float | None = None
    tau_source: TauSource | None = None
    n: int = 0
    m: int = 0
    higher_is_better: bool
    note: str = ""
    stage1: Verdict | None = None
    alpha: float | None = None
    baseline_runs: int = 0
    iterations_needed: int | None = None
    trend: float | None = None
    trend_p_value: float | None = None
    trend_runs: int = 0
    dropped: int = 0
    tau_runs: int = 0
    fail_on_drift: bool = False
    floor_disabled: bool = False
    shifted: str | None = None
    fail_on_shift: bool = False

    @property
    def fails(self) -> bool:
        """Does this verdict fail the test? A regression always; ``drifting`` and a ``shifted``
        note (a change point in the run history, history/trends.py) only when opted in."""
        return (
            self.verdict == "regression"
            or (self.verdict == "drifting" and self.fail_on_drift)
            or (self.shifted is not None and self.fail_on_shift)
        )

    @property
    def flagged(self) -> bool:
        """A regression at this stage (stage 1: re-measure and :func:`confirm`; stage 2: fail)."""
        return self.verdict == "regression"

    @property
    def needs_confirmation(self) -> bool:
        return self.flagged and self.stage == 1

    def to_json(self) -> GateDoc:
        """The gate entry of docs/results-format.md (:class:`~.results_doc.GateDoc`)."""
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
            "iterations_needed": self.iterations_needed,
            "trend": self.trend,
            "trend_p_value": self.trend_p_value,
            "trend_runs": self.trend_runs,
            "dropped": self.dropped,
            "tau_runs": self.tau_runs,
            "floor_disabled": self.floor_disabled,
            "fails": self.fails,
            "higher_is_better": self.higher_is_better,
            "note": self.note,
            "shifted": self.shifted,
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


# -- drift: session centres, τ and its uncertainty ----------------------------------------------


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
        winsorized = ordered.copy()
        winsorized[:g] = ordered[g]
        winsorized[n - g :] = ordered[n - 1 - g]
        deviations = winsorized - winsorized.sum() / n
        variance = float(deviations @ deviations) / (kept * (kept - 1))  # (n − 1)·s²_w / (h(h − 1))
        return cls(float(ordered[g : n - g].sum()) / kept, variance)


def run_centre(values: Values) -> tuple[float, float] | None:
    """One run's centre as the gate sees it, for the run history: exp of the ``_TRIM``-trimmed mean
    of the logs of its positive values, and that log-centre's standard error (Yuen). None with
    fewer than two usable values."""
    logs = np.log(_usable(values))
    if logs.size < 2:
        return None
    trimmed = _Trimmed.of(logs)
    return math.exp(trimmed.mean), math.sqrt(trimmed.variance)


def _sessions(times: Sequence[float | None], gap: float) -> list[int]:
    """A session label per run (runs in stored order): a run accepted less than ``gap`` seconds
    after the previous one belongs to its session; an unknown time starts a new session."""
    labels: list[int] = []
    previous: float | None = None
    for when in times:
        same = bool(labels) and when is not None and previous is not None and 0 <= when - previous < gap
        labels.append(labels[-1] if same else (labels[-1] + 1 if labels else 0))
        previous = when
    return labels


def _session_centres(runs: Sequence[FloatArray], trimmed: Sequence[_Trimmed], labels: Sequence[int]) -> list[_Trimmed]:
    """One centre per session: a lone run's trimmed mean; runs saved back to back pooled into one."""
    grouped: dict[int, list[int]] = {}
    for position, label in enumerate(labels):
        grouped.setdefault(label, []).append(position)
    return [
        trimmed[group[0]] if len(group) == 1 else _Trimmed.of(np.concatenate([runs[i] for i in group]))
        for group in grouped.values()
    ]


def _uncertainty_factor(df: int, quantile: float) -> float:
    """ν/χ²_ν(q): τ̂² scaled to an upper estimate of τ², wide with few sessions (3.5 at ν = 2, q = 0.25)."""
    return df / float(chdtri(df, 1 - quantile))


@dataclass(frozen=True)
class _Drift:
    """Session drift on the log scale, from the stored runs' session centres (module docstring).

    ``tau`` is what the test uses: the moment estimate inflated for its own uncertainty (few
    sessions ⇒ a large factor) plus a floor of ``_RESOLUTION`` run-centre variances, because a few
    agreeing runs cannot show that drift is absent. ``scatter`` predicts how far the shift
    estimate actually scatters (for the MDE): the moment estimate shrunk towards the prior.
    ``sessions`` is how many sessions the estimate rests on (0 when the prior is used).
    """

    tau: float
    source: TauSource
    scatter: float
    sessions: int

    @classmethod
    def prior(cls, policy: GatePolicy) -> _Drift:
        return cls(policy.tau_prior, "prior", policy.tau_prior, 0)

    @classmethod
    def estimate(
        cls,
        runs: Sequence[FloatArray],
        trimmed: Sequence[_Trimmed],
        labels: Sequence[int],
        policy: GatePolicy,
        inflation: float,
    ) -> _Drift:
        """τ from the session centres: a session of one run is that run's trimmed mean, runs saved
        back to back are pooled into one centre (their shared drift is one draw, not several)."""
        centres = _session_centres(runs, trimmed, labels)
        if len(centres) < policy.min_runs_for_tau:
            return cls.prior(policy)
        within = inflation * float(np.mean([c.variance for c in centres]))
        spread = float(np.var([c.mean for c in centres], ddof=1))
        if spread == 0 and within == 0:  # constant samples: no evidence about drift at all
            return cls.prior(policy)
        df = len(centres) - 1
        moment = max(0.0, spread - within)
        tau2 = _uncertainty_factor(df, _OWN_TAU_QUANTILE) * moment + _RESOLUTION * within
        scatter2 = (_PRIOR_WEIGHT * policy.tau_prior**2 + df * moment) / (_PRIOR_WEIGHT + df)
        return cls(math.sqrt(tau2), "history", math.sqrt(scatter2), len(centres))


@dataclass(frozen=True)
class _Evidence:
    """Rank and drift evidence for one comparison, on direction-normalised logs."""

    shift: float  # Hodges–Lehmann
    rank_lcb: float  # the rank bounds, widened by √(variance inflation) for within-run autocorrelation
    rank_ucb: float
    rank_p_worse: float
    rank_p_better: float
    drift_var: float  # a·τ², the drift's share of the shift estimate's variance
    spread_var: float  # the same with the scatter τ: for power, not for the test
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


def _mde(evidence: _Evidence, n: int, m: float, threshold: float, policy: GatePolicy, first_n: int) -> float:
    """Smallest log shift the two-stage procedure detects with 80 % power (normal approximation).

    Stage s flags when θ̂ exceeds h_s = max(z_α·SE_s, T), where SE_s combines within-run noise
    (scaled to the stage's sample size) and the test's drift term; θ̂ scatters around the true
    shift by the within-run noise and the predicted drift (``_Drift.scatter``). The procedure's
    power is taken as the product of the stages' (a confirmation doubles the stage-1 sample; both
    stages see the same drift, which the test carries in its bar), solved for 80 %.
    ``first_n`` is the stage-1 sample size (n itself, or the n for which iterations are sought).
    ``m`` is ``math.inf`` for a paired design (ab_gate.py): no second sample adds its own noise.
    """
    if not math.isfinite(threshold):
        return math.inf  # a tolerance of a 100 % drop: nothing is material
    stages = []
    for stage_n, alpha in ((first_n, policy.alpha1), (2 * first_n, policy.alpha2)):
        within = evidence.rank_se * math.sqrt((1 / stage_n + 1 / m) / (1 / n + 1 / m))
        bar = max(float(ndtri(1 - alpha)) * math.hypot(within, math.sqrt(evidence.drift_var)), threshold)
        stages.append((bar, math.hypot(within, math.sqrt(evidence.spread_var))))

    def power(shift: float) -> float:
        return math.prod(_normal_cdf(shift - bar, scatter) for bar, scatter in stages)

    low, high = 0.0, max(bar + 4 * scatter for bar, scatter in stages)
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle) < _POWER else (low, middle)
    return high


def _normal_cdf(x: float, scale: float) -> float:
    """P(N(0, scale²) ≤ x), with a zero scale meaning a point mass at 0."""
    if scale == 0:
        return 1.0 if x >= 0 else 0.0
    return 0.5 * math.erfc(-x / (scale * math.sqrt(2)))


def _noise_mde(evidence: _Evidence, n: int, m: float, policy: GatePolicy, first_n: int) -> float:
    """The MDE that noise and drift alone allow, without the materiality floor T.

    The reported MDE is never below T (a change under the tolerance is never flagged); this one
    says whether the noise would hide a regression of the tolerance's size: ``underpowered``.
    """
    return _mde(evidence, n, m, 0.0, policy, first_n)


def _iterations_needed(evidence: _Evidence, n: int, m: float, threshold: float, policy: GatePolicy) -> int | None:
    """The fewest current samples whose noise MDE is at most the tolerance, None if no number can."""
    limit = 64 * n
    if _noise_mde(evidence, n, m, policy, limit) > threshold:
        return None  # the drift term alone (or the baseline's size) keeps the MDE above the tolerance
    low, high = n, limit  # noise MDE(low) > threshold ≥ noise MDE(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _noise_mde(evidence, n, m, policy, middle) > threshold else (low, middle)
    return high


def _direction_logs(values: FloatArray, higher_is_better: bool) -> FloatArray:
    logs: FloatArray = np.log(values)
    return -logs if higher_is_better else logs


def _usable(values: Values) -> FloatArray:
    """The positive finite values, in order: the gate compares logs."""
    array = np.asarray(values, dtype=float)
    good = np.isfinite(array) & (array > 0)
    kept: FloatArray = array if good.all() else array[good]
    return kept


def suite_drift(
    histories: Sequence[Sequence[StoredRun]], *, higher_is_better: bool, policy: GatePolicy
) -> float | None:
    """The drift τ of one metric pooled over the suite's scenarios, or None without enough history.

    Drift is mostly the endpoint's (load, routing, time of day), shared by every scenario of a
    session: one scenario whose few runs happen to agree must not claim a calm endpoint when the
    others show drift. The scenarios' moment estimates are averaged (each scenario's session
    spread minus its within-run part); their sessions are the same days, so the uncertainty
    factor uses the degrees of freedom of one scenario (the most sessions any has), not the sum.
    """
    moments, dfs = [], []
    for history in histories:
        stored = [(_usable(run.values), run.accepted) for run in history]
        stored = [(values, when) for values, when in stored if values.size >= 2]
        logs = [_direction_logs(values, higher_is_better) for values, _ in stored]
        labels = _sessions([when for _, when in stored], policy.session_gap)
        centres = _session_centres(logs, [_Trimmed.of(run) for run in logs], labels)
        if len(centres) < policy.min_runs_for_tau:
            continue
        spread = float(np.var([c.mean for c in centres], ddof=1))
        moments.append(spread - float(np.mean([c.variance for c in centres])))
        dfs.append(len(centres) - 1)
    if not moments:
        return None
    moment = max(0.0, float(np.mean(moments)))
    return math.sqrt(_uncertainty_factor(max(dfs), _TAU_QUANTILE) * moment)


@dataclass(frozen=True)
class Comparison:
    """What one metric's current sample is judged against, and by which rule: stage 1 and its
    confirmation (:func:`confirm`) share it, so the two stages cannot be given different baselines.

    ``baseline_runs`` are the last K stored runs, pooled for the shift (possibly subsampled);
    ``history`` every stored run, oldest first and ending with those K, with its acceptance time,
    for τ and the trend (default: the baseline runs, times unknown). ``suite_tau`` is the drift
    pooled over the suite's scenarios (:func:`suite_drift`): the test uses the larger of it and
    the metric's own τ.
    """

    baseline_runs: Sequence[Values]
    higher_is_better: bool
    tolerance: Tolerance
    policy: GatePolicy
    history: Sequence[StoredRun] | None = None
    suite_tau: float | None = None


def gate_metric(metric: str, current: Values, against: Comparison, *, stage: int = 1) -> Verdict:
    """Decide one metric: current sample (raw values) vs the baseline runs of ``against``.

    Non-positive and non-finite values are left out and counted in ``dropped``.
    """
    baseline_runs, tolerance, policy = against.baseline_runs, against.tolerance, against.policy
    alpha = policy.alpha(stage)
    stored = list(against.history) if against.history is not None else [StoredRun(run) for run in baseline_runs]
    usable_current = _usable(current)
    usable_runs = [_usable(run) for run in baseline_runs]
    dropped = (len(current) - usable_current.size) + sum(
        len(run) - kept.size for run, kept in zip(baseline_runs, usable_runs, strict=True)
    )
    runs = [run for run in usable_runs if run.size > 0]
    pooled = np.concatenate(runs) if runs else np.empty(0)
    n, m = usable_current.size, pooled.size
    undecided = Verdict(
        metric=metric,
        verdict="inconclusive",
        higher_is_better=against.higher_is_better,
        tolerance=tolerance.relative,
        n=n,
        m=m,
        baseline_p50=float(np.median(pooled)) if m else None,
        current_p50=float(np.median(usable_current)) if n else None,
        stage=stage,
        alpha=alpha,
        baseline_runs=len(runs),
        dropped=dropped,
        fail_on_drift=policy.fail_on_drift,
    )
    reason = _why_undecidable(n, m, alpha)
    if reason is not None:
        kind, note = reason
        return replace(undecided, verdict=kind, note=_with_dropped(note, dropped))
    return _decide(undecided, usable_current, runs, stored, against.suite_tau, tolerance, policy)


def _with_dropped(note: str, dropped: int) -> str:
    if not dropped:
        return note
    extra = f"{dropped} non-positive or non-finite value(s) left out (the gate compares logs)"
    return f"{note}; {extra}" if note else extra


def _why_undecidable(n: int, m: int, alpha: float) -> tuple[Kind, str] | None:
    if m == 0:
        return "no-baseline", "no baseline for this metric: run with --perf-save to record one"
    if n == 0:
        return "inconclusive", "no current samples to compare"
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
    current: FloatArray,
    runs: Sequence[FloatArray],
    history: Sequence[StoredRun],
    suite_tau: float | None,
    tolerance: Tolerance,
    policy: GatePolicy,
) -> Verdict:
    """The rule of the module docstring, on samples already known to be usable."""
    higher_is_better = undecided.higher_is_better
    x = _direction_logs(current, higher_is_better)
    log_runs = [_direction_logs(run, higher_is_better) for run in runs]
    stored = [(_usable(run.values), run.accepted) for run in history]
    stored = [(values, when) for values, when in stored if values.size >= 2]
    labels = _sessions([when for _, when in stored], policy.session_gap)
    stored_logs = [_direction_logs(values, higher_is_better) for values, _ in stored]
    trimmed = [_Trimmed.of(logs) for logs in stored_logs]
    inflation = _autocorrelation_inflation([*stored_logs, x])
    drift = _Drift.estimate(stored_logs, trimmed, labels, policy, inflation)
    if suite_tau is not None and suite_tau > drift.tau:
        drift = replace(drift, tau=suite_tau)
    # the pooled runs are the last len(runs) stored runs: their sessions weigh the baseline's drift
    pooled_labels = labels[-len(log_runs) :] if len(labels) >= len(log_runs) else list(range(len(log_runs)))
    evidence = _evidence(x, log_runs, pooled_labels, drift, policy.alpha(undecided.stage), inflation)
    baseline_median = undecided.baseline_p50
    assert baseline_median is not None  # a baseline exists, checked by _why_undecidable
    threshold = _materiality(tolerance, baseline_median, higher_is_better)
    shift, lcb, ucb = evidence.shift, evidence.lcb, evidence.ucb
    effective = tolerance.effective(baseline_median)

    kind, notes = classify(shift, lcb, ucb, threshold)
    floor_disabled = tolerance.floor_disables(baseline_median)
    if effective > tolerance.relative:
        notes.append(
            f"the absolute floor ({tolerance.floor(baseline_median):.3g} in the metric's unit) is "
            f"{100 * effective:.0f} % of this baseline's median: the gate only sees changes above that"
        )
    p_worse, p_better = evidence.p_values()
    sign = -1.0 if higher_is_better else 1.0
    mde = _mde(
        evidence, x.size, undecided.m, threshold, policy, x.size if undecided.stage == 1 else max(2, x.size // 2)
    )
    mde_fraction = _as_fraction(mde, higher_is_better) if math.isfinite(mde) else None
    needed = None
    if kind == "pass" and undecided.stage == 1 and floor_disabled:
        kind = "underpowered"
        notes.append(
            f"the configured absolute floor disables this gate: lower abs_floor under "
            f"{FLOOR_MAX_SHARE * baseline_median:.3g} to see a {100 * tolerance.relative:.0f} % regression"
        )
    elif (
        kind == "pass"
        and undecided.stage == 1
        and _noise_mde(evidence, x.size, undecided.m, policy, x.size) > threshold
    ):
        kind = "underpowered"
        needed = _iterations_needed(evidence, x.size, undecided.m, threshold, policy)
        notes.append(
            f"could not have seen a regression of its tolerance: raise the iterations to n = {needed}"
            if needed is not None
            else "could not have seen a regression of its tolerance: the session drift alone is too large; "
            "more baseline runs (--perf-baseline-runs) or interleaved A/B runs are the remedy"
        )
    trend = _trend([t.mean for t in trimmed], x)
    if trend is not None and kind in ("pass", "underpowered") and undecided.stage == 1:
        change, p_trend, _ = trend
        if p_trend < policy.alpha_suite and change > threshold:
            kind = "drifting"
            notes.append(
                f"a slow slide: {100 * _as_fraction(change, higher_is_better):+.1f} % across the last "
                f"{trend[2]} runs (trend p = {p_trend:.2g})"
            )
    return replace(
        undecided,
        verdict=kind,
        ratio=math.exp(sign * shift),
        ratio_bound=math.exp(sign * lcb),
        tolerance=effective,
        p_value=p_better if kind == "improvement" else p_worse,
        mde=mde_fraction,
        tau=drift.tau,
        tau_source=drift.source,
        tau_runs=drift.sessions,
        iterations_needed=needed,
        floor_disabled=floor_disabled,
        trend=None if trend is None else _as_fraction(trend[0], higher_is_better),
        trend_p_value=None if trend is None else trend[1],
        trend_runs=0 if trend is None else trend[2],
        note=_with_dropped("; ".join(notes), undecided.dropped),
    )


def classify(shift: float, lcb: float, ucb: float, threshold: float) -> tuple[Kind, list[str]]:
    """The rule on direction-normalised logs: significant AND material is a regression (or an
    improvement); the notes say why a change that is only one of the two passes."""
    if lcb > 0 and shift > threshold:
        return "regression", []
    if ucb < 0 and shift < -threshold:
        return "improvement", []
    if lcb > 0:
        return "pass", ["significant but within tolerance"]
    if shift > threshold:
        return "pass", ["change beyond tolerance but within noise (not significant)"]
    return "pass", []


def _autocorrelation_inflation(runs: Sequence[FloatArray]) -> float:
    """Variance inflation (1 + ρ)/(1 − ρ) of a run's centre from the lag-1 autocorrelation of requests.

    Successive requests of a run share load and caches, so a run of n correlated samples carries
    the information of fewer. ρ is pooled over every run (each centred on its own mean, so drift
    does not count), and kept in [0, 0.8]: negative correlation is not trusted to sharpen the test.
    Left uncorrected for its low bias on short runs (module docstring).
    """
    products = squares = 0.0
    for run in runs:
        if run.size < 3:
            continue
        centred = run - run.mean()
        products += float(centred[1:] @ centred[:-1])
        squares += float(centred @ centred)
    if squares == 0:
        return 1.0
    rho = min(max(products / squares, 0.0), _MAX_AUTOCORRELATION)
    return (1 + rho) / (1 - rho)


def _trend(stored_centres: Sequence[float], current_logs: FloatArray) -> tuple[float, float, int] | None:
    """A least-squares line through the runs' trimmed log centres (stored runs, then the current one).

    Returns (total worse-side log change from the first run to the current one, one-sided p-value
    of a positive slope, runs used), or None with fewer than ``_TREND_MIN_RUNS`` runs. The
    residuals carry drift and within-run noise alike, so the t-test on the slope needs no τ.
    """
    centres = [*stored_centres, _Trimmed.of(current_logs).mean]
    count = len(centres)
    if count < _TREND_MIN_RUNS:
        return None
    index = np.arange(count, dtype=float) - (count - 1) / 2
    y = np.asarray(centres) - float(np.mean(centres))
    spread_index = float(index @ index)
    slope = float(index @ y) / spread_index
    residual = float(np.sum((y - slope * index) ** 2)) / (count - 2)
    se = math.sqrt(residual / spread_index)
    p_value = float(stdtr(count - 2, -slope / se)) if se > 0 else (0.0 if slope > 0 else 1.0)
    return slope * (count - 1), p_value, count


def _evidence(
    x: FloatArray,
    log_runs: Sequence[FloatArray],
    labels: Sequence[int],
    drift: _Drift,
    alpha: float,
    inflation: float,
) -> _Evidence:
    y = np.concatenate(log_runs)
    n, m = x.size, y.size
    c = _critical_count(n, m, alpha)
    assert c is not None  # checked by _why_undecidable
    diffs = _pairwise(x, y)
    rank_worse, rank_better = _rank_p_values(x, y, diffs)
    shift = float(np.median(diffs))
    widen = math.sqrt(inflation)
    shares: dict[int, float] = {}
    for run, label in zip(log_runs, labels, strict=True):
        shares[label] = shares.get(label, 0.0) + run.size / m
    # the current session's drift + the baseline sessions' average (runs of one session share one)
    weight = 1 + sum(share**2 for share in shares.values())
    return _Evidence(
        shift=shift,
        rank_lcb=shift - widen * (shift - float(diffs[n * m - c])),
        rank_ucb=shift + widen * (float(diffs[c - 1]) - shift),
        rank_p_worse=rank_worse,
        rank_p_better=rank_better,
        drift_var=drift.tau**2 * weight,
        spread_var=drift.scatter**2 * weight,
        z=float(ndtri(1 - alpha)),
    )


def confirm(stage1: Verdict, pooled_current: Values, against: Comparison) -> Verdict:
    """Stage 2: decide on the pooled (stage-1 + confirmation) sample at α2, against what stage 1 was.

    A regression stands only if stage 2 confirms it; otherwise the result is INCONCLUSIVE, a
    warning rather than a failure. A stage-1 verdict that flagged nothing is returned unchanged.
    """
    if not stage1.needs_confirmation:
        return stage1
    stage2 = gate_metric(stage1.metric, pooled_current, against, stage=2)
    return settle(stage1, stage2, against.policy)


def settle(stage1: Verdict, stage2: Verdict, policy: GatePolicy) -> Verdict:
    """A confirmed regression stands (with its stage 1 attached); anything else is INCONCLUSIVE."""
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
        higher_is_better=False,
        tolerance=margin,
        n=current_attempted,
        m=len(baseline_rates),
        baseline_p50=baseline_rate,
        current_p50=current_rate,
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
