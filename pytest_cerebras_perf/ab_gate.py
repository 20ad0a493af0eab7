"""The A/B gate: is B slower than A, when both were measured in one session, interleaved?

Pure functions (numpy/scipy only). gate.py compares a run with baselines recorded in other
sessions, so it must carry session drift (τ) in its bound and its MDE. Here A and B alternate
request by request inside blocks of one session (load.py's ``run_interleaved``): whatever the
endpoint does to a block hits A and B alike, so the block is the unit of comparison and drift
cancels inside it. The design is paired:

* Each block k of a slot yields one A request and one B request, adjacent in time; on
  direction-normalised logs (the reciprocal for higher-is-better metrics, so "worse" is positive)
  d_k = log B_k − log A_k. A pair whose either side failed, or lacks the metric, is left out and
  counted (``dropped``).
* Shift estimate: the one-sample Hodges–Lehmann estimate θ̂ = median of the Walsh averages
  (d_i + d_j)/2, i ≤ j; its bounds invert the Wilcoxon signed-rank test (exact null up to 200
  pairs, normal approximation above), widened by √((1 + ρ)/(1 − ρ)) for the lag-1
  autocorrelation of the differences in time order (gate.py's correction: neighbouring blocks
  share what the endpoint did between them).
* No drift term: τ is what the design removes. Materiality, verdict kinds, the two stages (the
  confirmation measures as many blocks again, interleaved, and decides on all of them at
  α_suite / n_gates), the MDE and ``underpowered`` are gate.py's, reused with no second sample
  (m = ∞ in its MDE) and no drift (the MDE is then that of within-block noise alone).

``benchmarks/ab_power.py`` checks it by Monte Carlo beside the baseline gate at the same number
of requests (16 gates a suite, 20 blocks a side, 4,000 suites a cell): suite false alarms 0.00–0.03 %
at τ = 0, 0.05 and 0.10 (CV 10 % and AR(1) ρ = 0.5); power at +12 % with a 5 % tolerance 85–86 %
(CV 10 %) and 99 % (AR(1)) at every τ, where the baseline gate's falls from 58 % to 1 % as τ grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

from .gate import (
    FloatArray,
    GatePolicy,
    Tolerance,
    Values,
    Verdict,
    _as_fraction,
    _autocorrelation_inflation,
    _direction_logs,
    _Evidence,
    _iterations_needed,
    _materiality,
    _mde,
    _noise_mde,
    classify,
    settle,
)

_EXACT_MAX_PAIRS = 200  # exact signed-rank null up to 200 pairs (20,101 counts), normal above
_PAIRED = math.inf  # gate.py's MDE with m = ∞: one paired sample, no second sample's noise


@lru_cache(maxsize=256)
def _signed_rank_tail(n: int) -> FloatArray:
    """P0(T⁺ ≥ t) for t = 0..n(n+1)/2 under the exact Wilcoxon signed-rank null (no ties, no zeros).

    T⁺ is a sum of distinct ranks 1..n each present with probability ½: the distribution is the
    product Π ½(1 + q^i), built by convolution.
    """
    size = n * (n + 1) // 2 + 1
    probabilities: FloatArray = np.zeros(size)
    probabilities[0] = 1.0
    for rank in range(1, n + 1):
        shifted = np.zeros(size)
        shifted[rank:] = probabilities[:-rank]
        probabilities = np.asarray(0.5 * (probabilities + shifted), dtype=np.float64)
    tail = np.cumsum(probabilities[::-1])[::-1]
    tail.setflags(write=False)
    return tail


def _critical_count(n: int, alpha: float) -> int | None:
    """Smallest c with P0(T⁺ ≥ c) ≤ α, or None when no count reaches α (too few pairs)."""
    walsh = n * (n + 1) // 2
    if n <= _EXACT_MAX_PAIRS:
        reachable = np.nonzero(_signed_rank_tail(n) <= alpha)[0]
        return int(reachable[0]) if reachable.size else None
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    c = math.ceil(walsh / 2 + 0.5 + float(ndtri(1 - alpha)) * sd)
    return c if c <= walsh else None


def min_pairs(alpha: float) -> int:
    """The fewest pairs whose best possible signed-rank p-value, 2⁻ⁿ, reaches α."""
    return max(1, math.ceil(math.log2(1 / alpha)))


def _walsh(d: FloatArray) -> FloatArray:
    upper = np.triu_indices(d.size)
    return np.sort(((d[:, None] + d[None, :]) / 2)[upper])


def _rank_p_values(d: FloatArray, walsh: FloatArray) -> tuple[float, float]:
    """One-sided signed-rank p-values at shift 0: (B worse, B better)."""
    n = d.size
    t_plus = float(np.count_nonzero(walsh > 0) + 0.5 * np.count_nonzero(walsh == 0))
    t_minus = walsh.size - t_plus
    magnitudes = np.abs(d)
    exact = n <= _EXACT_MAX_PAIRS and np.all(magnitudes > 0) and np.unique(magnitudes).size == n
    if exact:
        tail = _signed_rank_tail(n)
        return float(tail[int(t_plus)]), float(tail[int(t_minus)])
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    middle = walsh.size / 2
    return float(ndtr(-(t_plus - middle - 0.5) / sd)), float(ndtr(-(t_minus - middle - 0.5) / sd))


@dataclass(frozen=True)
class Paired:
    """One metric's paired values: ``a[k]`` and ``b[k]`` are the two requests of block k, in time order."""

    a: FloatArray
    b: FloatArray
    dropped: int

    @classmethod
    def of(cls, a: Values, b: Values) -> Paired:
        """Pairs whose both values are positive and finite (the gate compares logs); others dropped."""
        xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if xa.shape != xb.shape:
            raise ValueError(f"paired values need equal lengths, got {xa.size} and {xb.size}")
        good = np.isfinite(xa) & np.isfinite(xb) & (xa > 0) & (xb > 0)
        return cls(xa[good], xb[good], int(xa.size - np.count_nonzero(good)))


def gate_paired(
    metric: str,
    paired: Paired,
    *,
    higher_is_better: bool,
    tolerance: Tolerance,
    policy: GatePolicy,
    stage: int = 1,
) -> Verdict:
    """Decide one metric of an interleaved A/B run: B (``current``) against A (``baseline``)."""
    alpha = policy.alpha(stage)
    n = paired.a.size
    undecided = Verdict(
        metric=metric,
        verdict="inconclusive",
        higher_is_better=higher_is_better,
        tolerance=tolerance.relative,
        n=n,
        m=n,
        baseline_p50=float(np.median(paired.a)) if n else None,
        current_p50=float(np.median(paired.b)) if n else None,
        stage=stage,
        alpha=alpha,
        dropped=paired.dropped,
        fail_on_drift=policy.fail_on_drift,
    )
    if _critical_count(n, alpha) is None:
        note = f"too few A/B pairs: {n} cannot reach α = {alpha:.3g} (needs {min_pairs(alpha)})"
        return replace(undecided, note=note)
    d = np.asarray(
        _direction_logs(paired.b, higher_is_better) - _direction_logs(paired.a, higher_is_better), dtype=np.float64
    )
    walsh = _walsh(d)
    c = _critical_count(n, alpha)
    assert c is not None
    shift = float(np.median(walsh))
    widen = math.sqrt(_autocorrelation_inflation([d]))
    p_worse, p_better = _rank_p_values(d, walsh)
    evidence = _Evidence(
        shift=shift,
        rank_lcb=shift - widen * (shift - float(walsh[walsh.size - c])),
        rank_ucb=shift + widen * (float(walsh[c - 1]) - shift),
        rank_p_worse=p_worse,
        rank_p_better=p_better,
        drift_var=0.0,
        spread_var=0.0,
        z=float(ndtri(1 - alpha)),
    )
    a_median = undecided.baseline_p50
    assert a_median is not None
    threshold = _materiality(tolerance, a_median, higher_is_better)
    lcb = evidence.lcb
    kind, notes = classify(shift, lcb, evidence.ucb, threshold)
    first_n = n if stage == 1 else max(2, n // 2)
    mde = _mde(evidence, n, _PAIRED, threshold, policy, first_n)
    needed = None
    if kind == "pass" and stage == 1 and _noise_mde(evidence, n, _PAIRED, policy, n) > threshold:
        kind = "underpowered"
        needed = _iterations_needed(evidence, n, _PAIRED, threshold, policy)
        notes.append(
            f"could not have seen a regression of its tolerance: raise the iterations to {needed} A/B pairs"
            if needed is not None
            else "could not have seen a regression of its tolerance"
        )
    sign = -1.0 if higher_is_better else 1.0
    return replace(
        undecided,
        verdict=kind,
        ratio=math.exp(sign * shift),
        ratio_bound=math.exp(sign * lcb),
        tolerance=tolerance.effective(a_median),
        p_value=p_better if kind == "improvement" else p_worse,
        mde=_as_fraction(mde, higher_is_better) if math.isfinite(mde) else None,
        iterations_needed=needed,
        note="; ".join(notes + ([f"{paired.dropped} pair(s) left out (a side failed)"] if paired.dropped else [])),
    )


def confirm_paired(
    stage1: Verdict,
    pooled: Paired,
    *,
    higher_is_better: bool,
    tolerance: Tolerance,
    policy: GatePolicy,
) -> Verdict:
    """Stage 2 on every pair (stage 1's and the confirmation's) at α2; unconfirmed is INCONCLUSIVE."""
    if not stage1.needs_confirmation:
        return stage1
    stage2 = gate_paired(
        stage1.metric, pooled, higher_is_better=higher_is_better, tolerance=tolerance, policy=policy, stage=2
    )
    return settle(stage1, stage2, policy)
