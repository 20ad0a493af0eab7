"""The regression gate: Mann–Whitney bounds against scipy, and verdicts on constructed samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from pytest_cerebras_perf.caveats import FLOOR_DISABLES, caveat
from pytest_cerebras_perf.gate import (
    FLOOR_MAX_SHARE,
    Comparison,
    GatePolicy,
    StoredRun,
    Tolerance,
    Verdict,
    confirm,
    gate_error_rate,
    gate_metric,
    lower_confidence_bound,
    suite_drift,
)
from pytest_cerebras_perf.gating import tolerance_for
from pytest_cerebras_perf.metrics import METRICS

POLICY = GatePolicy(alpha_suite=0.01, tau_prior=0.05, n_gates=16)
TEN_PERCENT = Tolerance(relative=0.10)


def lognormal(n: int, *, sigma: float = 0.1, ratio: float = 1.0, seed: int = 0, median: float = 1.0) -> list[float]:
    """n log-normal samples around ``median × ratio`` (seeded, so every test sees the same draw)."""
    rng = np.random.default_rng(seed)
    return list(median * ratio * np.exp(rng.normal(0.0, sigma, n)))


def runs(k: int = 3, size: int = 10, *, sigma: float = 0.1, median: float = 1.0) -> list[list[float]]:
    return [lognormal(size, sigma=sigma, median=median, seed=100 + i) for i in range(k)]


def latency_against(baseline: Sequence[Sequence[float]]) -> Comparison:
    """The baseline runs of a latency metric, at the default tolerance and policy."""
    return Comparison(baseline, higher_is_better=False, tolerance=TEN_PERCENT, policy=POLICY)


def gate(
    current: Sequence[float],
    baseline: Sequence[Sequence[float]],
    *,
    higher_is_better: bool = False,
    tolerance: Tolerance = TEN_PERCENT,
    policy: GatePolicy = POLICY,
    stage: int = 1,
    metric: str = "e2e",
) -> Verdict:
    against = Comparison(baseline, higher_is_better=higher_is_better, tolerance=tolerance, policy=policy)
    return gate_metric(metric, current, against, stage=stage)


# -- the Mann–Whitney bound ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_lower_bound_is_the_inversion_of_scipys_mann_whitney(seed: int) -> None:
    """Just below the bound scipy rejects "x − s > y" at α; just above it does not."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 25)), int(rng.integers(3, 60))
    x = rng.normal(rng.normal(0, 0.5), rng.uniform(0.05, 1.0), n)
    y = rng.normal(0.0, rng.uniform(0.05, 1.0), m)
    method = "exact" if n * m <= 1000 else "asymptotic"
    for alpha in (0.05, 0.01, 0.01 / 16):
        bound = lower_confidence_bound(x, y, alpha)
        if bound is None:  # only when even the most extreme ranking cannot reach α
            assert mannwhitneyu(x + 1e6, y, alternative="greater", method=method).pvalue > alpha
            continue
        below = mannwhitneyu(x - (bound - 1e-9), y, alternative="greater", method=method).pvalue
        above = mannwhitneyu(x - (bound + 1e-9), y, alternative="greater", method=method).pvalue
        assert below <= alpha < above, (n, m, alpha)


def test_lower_bound_uses_the_normal_approximation_for_large_samples() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.3, 1.0, 40), rng.normal(0.0, 1.0, 90)  # n·m = 3600: beyond the exact table
    bound = lower_confidence_bound(x, y, 0.01)
    assert bound is not None
    assert mannwhitneyu(x - (bound - 1e-9), y, alternative="greater", method="asymptotic").pvalue <= 0.01
    assert mannwhitneyu(x - (bound + 1e-9), y, alternative="greater", method="asymptotic").pvalue > 0.01


def test_lower_bound_is_none_when_samples_are_too_few_for_alpha() -> None:
    # 2 vs 2 samples: the most extreme ranking has probability 1/6, above any usual α
    assert lower_confidence_bound([5.0, 6.0], [1.0, 2.0], 0.05) is None
    assert lower_confidence_bound([5.0, 6.0, 7.0], [1.0, 2.0, 3.0], 0.05) == pytest.approx(2.0)  # 1/20 ≤ 0.05


# -- verdicts ---------------------------------------------------------------------------------


def test_clear_regression_is_flagged_and_confirmed() -> None:
    baseline = runs()
    current = lognormal(10, ratio=1.5, seed=1)
    stage1 = gate(current, baseline)
    assert stage1.verdict == "regression" and stage1.stage == 1 and stage1.needs_confirmation
    assert stage1.ratio == pytest.approx(1.5, rel=0.1)
    assert 1.0 < stage1.ratio_bound < stage1.ratio  # type: ignore[operator]
    assert stage1.p_value is not None and stage1.p_value < POLICY.alpha1
    confirmation = lognormal(10, ratio=1.5, seed=2)
    final = confirm(stage1, current + confirmation, latency_against(baseline))
    assert final.verdict == "regression" and final.stage == 2 and final.flagged and not final.needs_confirmation
    assert final.stage1 is stage1 and final.n == 20 and final.alpha == pytest.approx(0.01 / 16)


def test_clear_improvement_is_reported_not_failed() -> None:
    verdict = gate(lognormal(10, ratio=0.6, seed=1), runs())
    assert verdict.verdict == "improvement" and not verdict.flagged
    assert verdict.ratio == pytest.approx(0.6, rel=0.1)
    assert verdict.p_value is not None and verdict.p_value < POLICY.alpha1  # the improvement side's p


def test_identical_samples_pass() -> None:
    baseline = runs(sigma=0.02)  # quiet enough that the gate can see its tolerance: a plain pass
    verdict = gate(baseline[1], baseline)
    assert verdict.verdict == "pass"
    assert verdict.ratio == pytest.approx(1.0, abs=0.05)
    assert verdict.p_value is not None and verdict.p_value > 0.2


def test_ties_are_handled() -> None:
    """Quantized timings (many equal values) still give a decision, in both directions."""
    baseline = [[0.10, 0.10, 0.11, 0.11, 0.11, 0.12, 0.12, 0.10, 0.11, 0.12] for _ in range(3)]
    same = gate([0.10, 0.11, 0.11, 0.12, 0.10, 0.11, 0.11, 0.12, 0.11, 0.10], baseline)
    assert same.verdict in ("pass", "underpowered") and same.ratio == pytest.approx(1.0)
    slower = gate([0.15, 0.15, 0.16, 0.16, 0.15, 0.16, 0.15, 0.16, 0.16, 0.15], baseline)
    assert slower.verdict == "regression"


def test_all_equal_samples_pass_without_dividing_by_zero() -> None:
    verdict = gate([0.2] * 10, [[0.2] * 10] * 3)
    assert verdict.verdict in ("pass", "underpowered") and verdict.ratio == 1.0 and verdict.p_value == 1.0


def test_constant_samples_do_not_claim_zero_drift() -> None:
    """Identical runs (a stub, a coarse timer) are no evidence of a calm endpoint: the prior stands."""
    verdict = gate([0.2] * 10, [[0.2] * 10] * 5, policy=GatePolicy(alpha_suite=0.01, n_gates=16, tau_prior=0.05))
    assert verdict.tau == 0.05 and verdict.tau_source == "prior" and verdict.tau_runs == 0
    assert verdict.mde is not None and verdict.mde > 0.10  # the drift prior keeps the MDE honest


def test_too_few_samples_for_alpha_is_inconclusive() -> None:
    # stage 2 (α2 = 0.000625): 3 current vs 5 baseline samples can reach at best 1/56
    verdict = gate([5.0, 6.0, 7.0], [[1.0, 1.1, 1.2, 1.3, 1.4]], stage=2)
    assert verdict.verdict == "inconclusive"
    assert "cannot reach" in verdict.note and "needs n ≥" in verdict.note
    assert gate([5.0], runs()).verdict == "inconclusive"  # a single sample has no spread


def test_higher_is_better_metric_regresses_when_it_drops() -> None:
    baseline = runs(median=2000.0)  # tokens/s
    slower = gate(lognormal(10, median=2000.0, ratio=0.6, seed=1), baseline, higher_is_better=True)
    assert slower.verdict == "regression" and slower.higher_is_better
    assert slower.ratio == pytest.approx(0.6, rel=0.1)  # current/baseline in tokens/s
    assert slower.ratio < slower.ratio_bound < 1.0  # type: ignore[operator]  # bound: "at most"
    assert 0.0 < slower.mde < 1.0  # type: ignore[operator]  # a drop, as a fraction
    faster = gate(lognormal(10, median=2000.0, ratio=1.5, seed=1), baseline, higher_is_better=True)
    assert faster.verdict == "improvement"


def test_relative_tolerance_of_a_throughput_means_a_drop_of_that_fraction() -> None:
    baseline = runs(median=1000.0, sigma=0.002)
    # a 9.7 % drop is a log shift of 0.102: above log(1.10) = 0.095, below -log(0.90) = 0.105
    drop_9_7 = gate(lognormal(10, median=903.0, sigma=0.002, seed=1), baseline, higher_is_better=True)
    drop_10_5 = gate(lognormal(10, median=895.0, sigma=0.002, seed=1), baseline, higher_is_better=True)
    assert drop_9_7.verdict == "pass" and drop_9_7.note == "significant but within tolerance"
    assert drop_10_5.verdict == "regression"
    assert drop_10_5.tolerance == pytest.approx(0.10)


def test_absolute_floor_makes_small_absolute_changes_immaterial() -> None:
    """+15 % on a 100 ms request is 15 ms: under the 20 ms floor it passes, without a floor it fails."""
    baseline = runs(median=0.100, sigma=0.02)
    current = lognormal(10, median=0.100, ratio=1.15, sigma=0.02, seed=1)
    floored = gate(current, baseline, tolerance=Tolerance(0.10, METRICS["e2e"].abs_floor))
    assert floored.verdict == "pass" and floored.note.startswith("significant but within tolerance")
    assert "absolute floor (0.02 in the metric's unit) is 20 %" in floored.note  # a binding floor says so
    assert floored.tolerance == pytest.approx(0.020 / floored.baseline_p50)  # type: ignore[operator]
    assert gate(current, baseline, tolerance=Tolerance(0.10, 0.0)).verdict == "regression"


def test_the_default_floor_scales_with_a_fast_endpoint() -> None:
    """Issue 19 #10: on a 5 ms server a fixed 20 ms floor was a 400 % tolerance and let 2.5× pass."""
    baseline = runs(median=0.005, sigma=0.05)
    default = Tolerance(0.10, METRICS["e2e"].abs_floor)
    slower = gate(lognormal(10, median=0.005, ratio=2.5, sigma=0.05, seed=1), baseline, tolerance=default)
    assert slower.verdict == "regression" and slower.tolerance == pytest.approx(FLOOR_MAX_SHARE)
    assert not slower.floor_disabled
    within = gate(lognormal(10, median=0.005, ratio=1.2, sigma=0.01, seed=1), runs(median=0.005, sigma=0.01))
    assert within.verdict == "regression"  # no floor: 20 % is material
    floored = gate(
        lognormal(10, median=0.005, ratio=1.2, sigma=0.01, seed=1), runs(median=0.005, sigma=0.01), tolerance=default
    )
    assert floored.verdict == "pass" and "absolute floor (0.00126 in the metric's unit) is 25 %" in floored.note


def test_a_configured_floor_that_disables_the_gate_says_so() -> None:
    """A floor the user wrote down is honoured, and the pass it produces is not a green tick."""
    baseline = runs(median=0.005, sigma=0.05)
    configured = tolerance_for("e2e", 0.10, {"e2e": {"abs_floor": 0.020}})
    assert not configured.floor_scales and tolerance_for("e2e", 0.10, {"e2e": 0.2}).floor_scales
    verdict = gate(lognormal(10, median=0.005, ratio=2.5, sigma=0.05, seed=1), baseline, tolerance=configured)
    assert verdict.verdict == "underpowered" and verdict.floor_disabled and verdict.iterations_needed is None
    assert verdict.tolerance > 3.0  # 20 ms on ~5 ms
    assert "configured absolute floor disables this gate" in verdict.note
    text = caveat(verdict.to_json())
    assert "configured absolute floor makes the tolerance" in text and text.endswith(FLOOR_DISABLES)


def test_no_baseline() -> None:
    empty: list[list[list[float]]] = [[], [[], []]]
    for baseline in empty:
        verdict = gate(lognormal(10), baseline)
        assert verdict.verdict == "no-baseline" and verdict.m == 0
        assert verdict.current_p50 == pytest.approx(float(np.median(lognormal(10))))
        assert "--perf-save" in verdict.note


def test_non_positive_values_are_dropped_and_counted() -> None:
    """One 0.0 (e.g. network_overhead clipped at zero) must not let a 2× regression through."""
    baseline = runs()
    baseline[0].append(-1.0)
    current = [*lognormal(10, ratio=2.0, seed=1), 0.0, math.inf]
    verdict = gate(current, baseline)
    assert verdict.verdict == "regression" and verdict.dropped == 3
    assert verdict.n == 10 and verdict.m == 30
    assert "3 non-positive or non-finite value(s) left out" in verdict.note
    assert gate([0.0, -1.0], baseline).verdict == "inconclusive"  # nothing usable left


def test_p_value_is_never_below_scipys_mann_whitney() -> None:
    baseline = runs()
    current = lognormal(10, ratio=1.12, seed=4)
    verdict = gate(current, baseline)
    pooled = [v for run in baseline for v in run]
    scipy_p = mannwhitneyu(np.log(current), np.log(pooled), alternative="greater", method="exact").pvalue
    assert verdict.p_value is not None and verdict.p_value >= scipy_p - 1e-12


def test_session_drift_between_runs_widens_the_bound() -> None:
    """Runs that disagree with each other by ±10 % cannot support a +16 % verdict; agreeing runs can."""
    current = lognormal(20, sigma=0.02, ratio=math.exp(0.15), seed=1)
    steady = [lognormal(10, sigma=0.02, seed=10 + i) for i in range(5)]
    drifting = [
        lognormal(10, sigma=0.02, ratio=math.exp(shift), seed=10 + i)
        for i, shift in enumerate((-0.1, -0.05, 0.0, 0.05, 0.1))
    ]
    assert gate(current, steady, stage=2).verdict == "regression"
    drifted = gate(current, drifting, stage=2)
    assert drifted.verdict == "pass" and drifted.tau_source == "history"
    assert drifted.tau == pytest.approx(np.std([-0.1, -0.05, 0.0, 0.05, 0.1], ddof=1), rel=0.3)
    assert drifted.mde > gate(current, steady, stage=2).mde  # type: ignore[operator]


def test_drift_prior_is_used_until_enough_runs_exist() -> None:
    policy = GatePolicy(alpha_suite=0.01, tau_prior=0.03, min_runs_for_tau=3)
    two = gate(lognormal(10), runs(k=2), policy=policy)
    assert (two.tau, two.tau_source) == (0.03, "prior")
    three = gate(lognormal(10), runs(k=3), policy=policy)
    assert three.tau_source == "history"


def test_mde_grows_with_noise_and_with_drift() -> None:
    quiet = gate(lognormal(10, sigma=0.05, seed=1), runs(sigma=0.05))
    noisy = gate(lognormal(10, sigma=0.2, seed=1), runs(sigma=0.2))
    assert quiet.mde is not None and noisy.mde is not None
    assert quiet.mde < noisy.mde
    assert quiet.mde >= quiet.tolerance  # it never claims to see changes it would call immaterial
    low_drift = gate(lognormal(10, seed=1), runs(k=2), policy=GatePolicy(alpha_suite=0.01, tau_prior=0.01))
    high_drift = gate(lognormal(10, seed=1), runs(k=2), policy=GatePolicy(alpha_suite=0.01, tau_prior=0.10))
    assert low_drift.mde < high_drift.mde  # type: ignore[operator]


def test_confirmation_that_does_not_reproduce_is_inconclusive() -> None:
    baseline = runs()
    current = lognormal(10, ratio=1.5, seed=1)
    stage1 = gate(current, baseline)
    back_to_normal = lognormal(30, seed=2)
    final = confirm(stage1, current + back_to_normal, latency_against(baseline))
    assert final.verdict == "inconclusive" and final.stage == 2 and final.stage1 is stage1
    assert "did not confirm" in final.note and not final.flagged


def test_confirm_leaves_an_unflagged_verdict_alone() -> None:
    baseline = runs()
    passed = gate(baseline[0], baseline)
    assert confirm(passed, baseline[0] * 2, latency_against(baseline)) is passed


def test_json_carries_the_results_format_keys_and_both_stages() -> None:
    baseline = runs()
    current = lognormal(10, ratio=1.5, seed=1)
    stage1 = gate(current, baseline)
    final = confirm(stage1, current + lognormal(10, ratio=1.5, seed=2), latency_against(baseline))
    data = final.to_json()
    contract = {
        "metric",
        "verdict",
        "baseline_p50",
        "current_p50",
        "ratio",
        "ratio_bound",
        "tolerance",
        "p_value",
        "stage",
        "mde",
    }
    assert contract <= set(data)
    first = data.get("stage1")
    assert data["stage"] == 2 and first is not None and first["stage"] == 1 and first["verdict"] == "regression"
    assert data["tau_source"] == "history" and data["n"] == 20 and data["m"] == 30


def test_error_rate_gate_needs_a_material_and_significant_excess() -> None:
    assert gate_error_rate(0, 10, [0.0, 0.0]).verdict == "pass"
    # 1 failure in 10 is what a 5 % error rate gives a third of the time: shown, not failed
    one = gate_error_rate(1, 10, [0.0, 0.0, 0.0])
    assert one.verdict == "inconclusive" and one.p_value == pytest.approx(1 - 0.95**10)
    regression = gate_error_rate(4, 10, [0.0, 0.0, 0.0])
    assert regression.verdict == "regression" and regression.current_p50 == pytest.approx(0.4)
    assert regression.p_value is not None and regression.p_value < 0.01
    assert "4/10" in regression.note
    assert gate_error_rate(1, 20, [0.0]).verdict == "pass"  # exactly +5 points is within the margin
    assert gate_error_rate(3, 10, [0.1, 0.2, 0.3], margin=0.15).verdict == "pass"  # vs the mean rate, 0.2
    assert gate_error_rate(0, 10, [0.5]).verdict == "improvement"
    assert gate_error_rate(1, 10, []).verdict == "no-baseline"
    assert gate_error_rate(0, 0, [0.0]).verdict == "inconclusive"


def test_policy_and_tolerance_refuse_nonsense() -> None:
    assert GatePolicy(tau_prior=0.05, alpha_suite=0.01, n_gates=16).alpha(2) == pytest.approx(0.000625)
    with pytest.raises(ValueError, match="alpha1"):
        GatePolicy(alpha_suite=0.01, tau_prior=0.05, alpha1=0.5)
    with pytest.raises(ValueError, match="n_gates"):
        GatePolicy(alpha_suite=0.01, tau_prior=0.05, n_gates=0)
    with pytest.raises(ValueError, match="tolerance"):
        Tolerance(relative=-0.1)
    with pytest.raises(ValueError, match="stage"):
        POLICY.alpha(3)


# -- drift history, sessions, underpowered and drifting verdicts ----------------------------------


DAY = 86_400.0


def stored(values: Sequence[Sequence[float]], spacing: float = DAY) -> list[StoredRun]:
    return [StoredRun(tuple(run), i * spacing) for i, run in enumerate(values)]


def with_history(
    current: Sequence[float],
    history: Sequence[Sequence[float]],
    *,
    keep: int = 3,
    spacing: float = DAY,
    suite_tau: float | None = None,
    policy: GatePolicy = POLICY,
    stage: int = 1,
) -> Verdict:
    """Gate against the last ``keep`` of ``history``, every run stored ``spacing`` seconds apart."""
    against = Comparison(
        history[-keep:],
        higher_is_better=False,
        tolerance=TEN_PERCENT,
        policy=policy,
        history=stored(history, spacing),
        suite_tau=suite_tau,
    )
    return gate_metric("e2e", current, against, stage=stage)


def test_tau_comes_from_the_whole_stored_history() -> None:
    """20 stored runs with 5 % drift: τ rests on 20 sessions, whatever K is pooled."""
    rng = np.random.default_rng(3)
    history = [list(np.exp(rng.normal(rng.normal(0, 0.05), 0.02, 10))) for _ in range(20)]
    verdict = with_history(lognormal(10, sigma=0.02, seed=1), history)
    assert verdict.tau_source == "history" and verdict.tau_runs == 20 and verdict.baseline_runs == 3
    spread = float(np.std([np.mean(np.log(run)) for run in history], ddof=1))
    assert spread * 0.8 < verdict.tau < spread * 1.6  # type: ignore[operator]  # 19 df: a modest factor


def test_back_to_back_saves_count_as_one_session() -> None:
    """Three runs saved seconds apart say nothing about day-to-day drift: τ falls back to the prior."""
    history = runs(k=3, sigma=0.05)
    current = lognormal(10, sigma=0.05, seed=1)
    policy = GatePolicy(alpha_suite=0.01, n_gates=16, tau_prior=0.05)
    apart = with_history(current, history, policy=policy)
    together = with_history(current, history, spacing=5.0, policy=policy)
    assert apart.tau_source == "history" and apart.tau_runs == 3 and apart.tau < 0.05  # type: ignore[operator]
    assert together.tau_source == "prior" and together.tau == 0.05 and together.tau_runs == 0
    assert together.mde > apart.mde  # type: ignore[operator]  # one shared drift: the baseline's average is no help
    # the suite's pooled drift counts sessions the same way (issue 19, #7: saves minutes apart are one day)
    assert suite_drift([stored(history)], higher_is_better=False, policy=policy) is not None
    assert suite_drift([stored(history, spacing=300.0)], higher_is_better=False, policy=policy) is None


def test_suite_drift_is_pooled_over_scenarios_and_widens_a_calm_one() -> None:
    """Drift is the endpoint's: one scenario whose runs happen to agree uses the suite's larger τ."""
    drifts = (-0.1, 0.08, -0.02, 0.1, -0.06)
    noisy = [
        stored([lognormal(10, sigma=0.02, ratio=math.exp(d), seed=50 + 10 * s + i) for i, d in enumerate(drifts)])
        for s in range(4)
    ]
    calm = runs(k=5, sigma=0.02)
    tau = suite_drift([*noisy, stored(calm)], higher_is_better=False, policy=POLICY)
    assert tau is not None and tau > 0.05
    current = lognormal(10, sigma=0.02, ratio=1.2, seed=9)
    alone = with_history(current, calm, keep=5)
    pooled = with_history(current, calm, keep=5, suite_tau=tau, stage=2)
    assert alone.tau < tau and pooled.tau == tau  # type: ignore[operator]
    assert pooled.verdict != "regression"  # +20 % is within what this endpoint drifts
    assert suite_drift([stored(runs(k=2))], higher_is_better=False, policy=POLICY) is None


def test_underpowered_pass_says_how_many_iterations_would_see_the_tolerance() -> None:
    baseline = runs(k=3, size=40, sigma=0.15)
    policy = GatePolicy(
        alpha_suite=0.01, n_gates=16, tau_prior=0.0, min_runs_for_tau=10
    )  # no drift: iterations can help
    few = gate(lognormal(5, sigma=0.15, seed=1), baseline, policy=policy)
    assert few.verdict == "underpowered" and not few.fails
    assert few.iterations_needed is not None and few.iterations_needed > 5
    assert f"n = {few.iterations_needed}" in few.note
    # the estimate rests on this sample's spread; twice as many samples clear it with a new draw
    enough = gate(lognormal(2 * few.iterations_needed, sigma=0.15, seed=2), baseline, policy=policy)
    assert enough.verdict == "pass" and enough.iterations_needed is None
    drifting = gate(
        lognormal(5, sigma=0.15, seed=1),
        baseline,
        policy=GatePolicy(alpha_suite=0.01, tau_prior=0.2, min_runs_for_tau=10),
    )
    assert drifting.verdict == "underpowered" and drifting.iterations_needed is None  # drift: no n helps
    assert "more baseline runs" in drifting.note


def test_a_slow_slide_over_six_runs_is_drifting() -> None:
    """Each accepted run 4 % slower than the last: every rolling comparison passes, the trend does not."""
    slide = [lognormal(10, sigma=0.03, ratio=1.04**i, seed=20 + i) for i in range(6)]
    current = lognormal(10, sigma=0.03, ratio=1.04**6, seed=30)
    verdict = with_history(current, slide)
    assert verdict.verdict == "drifting" and verdict.trend_runs == 7
    assert verdict.trend == pytest.approx(1.04**6 - 1, abs=0.05)
    assert verdict.trend_p_value is not None and verdict.trend_p_value < POLICY.alpha_suite
    assert not verdict.fails and "slow slide" in verdict.note
    strict = GatePolicy(alpha_suite=0.01, tau_prior=0.05, n_gates=16, fail_on_drift=True)
    failing = with_history(current, slide, policy=strict)
    assert failing.verdict == "drifting" and failing.fails and failing.to_json()["fails"] is True
    steady = [lognormal(10, sigma=0.03, seed=20 + i) for i in range(6)]
    calm = with_history(lognormal(10, sigma=0.03, seed=30), steady)
    assert calm.verdict in ("pass", "underpowered") and calm.trend_runs == 7


def test_autocorrelated_runs_widen_the_rank_bound() -> None:
    """Successive requests that move together carry less information than independent ones."""
    rng = np.random.default_rng(4)
    independent = rng.normal(0.0, 0.1, (4, 10))
    correlated = np.cumsum(rng.normal(0.0, 0.05, (4, 10)), axis=1)  # a random walk within each run
    policy = GatePolicy(alpha_suite=0.01, n_gates=16, tau_prior=0.0, min_runs_for_tau=10)
    for noise, widened in ((independent, False), (correlated, True)):
        values = np.exp(noise)
        current = values[3] * 1.2
        wide = gate(list(current), [list(v) for v in values[:3]], policy=policy)
        bound = lower_confidence_bound(np.log(current), np.log(values[:3]).ravel(), POLICY.alpha1)
        assert bound is not None and wide.ratio_bound is not None
        assert (math.log(wide.ratio_bound) < bound - 1e-9) is widened
