"""Interleaved A/B, the pure parts: the paired gate, the block orders and the A/B options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import wilcoxon

from pytest_cerebras_perf.ab_gate import Paired, _rank_p_values, _walsh, confirm_paired, gate_paired, min_pairs
from pytest_cerebras_perf.gate import GatePolicy, Tolerance
from pytest_cerebras_perf.load import block_orders
from pytest_cerebras_perf.settings import RawValues, Settings, SettingsError, resolve

POLICY = GatePolicy(alpha_suite=0.01, tau_prior=0.0, n_gates=4)


def lognormal(n: int, *, ratio: float = 1.0, sigma: float = 0.1, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(np.exp(np.random.default_rng(seed).normal(np.log(ratio), sigma, n)) * 0.5, dtype=np.float64)


def decide(a: Any, b: Any, *, tolerance: float = 0.10, higher_is_better: bool = False) -> str:
    paired = Paired.of(a, b)
    verdict = gate_paired(
        "e2e", paired, higher_is_better=higher_is_better, tolerance=Tolerance(tolerance), policy=POLICY
    )
    return confirm_paired(
        verdict, paired, higher_is_better=higher_is_better, tolerance=Tolerance(tolerance), policy=POLICY
    ).verdict


def test_signed_rank_p_values_are_wilcoxons() -> None:
    d = np.random.default_rng(3).normal(0.05, 0.1, 12)
    worse, better = _rank_p_values(d, _walsh(d))
    assert worse == pytest.approx(wilcoxon(d, alternative="greater", method="exact").pvalue)
    assert better == pytest.approx(wilcoxon(d, alternative="less", method="exact").pvalue)


def test_a_material_slowdown_of_b_is_a_regression_and_a_speedup_an_improvement() -> None:
    a = lognormal(20, seed=1)
    assert decide(a, a * lognormal(20, ratio=1.3, seed=2) / 0.5) == "regression"
    assert decide(a, a * lognormal(20, ratio=0.7, seed=2) / 0.5) == "improvement"
    assert decide(a, a * lognormal(20, ratio=1.03, sigma=0.01, seed=2) / 0.5) == "pass"  # within tolerance


def test_drift_shared_inside_a_block_changes_nothing() -> None:
    """Whatever the endpoint does to a block hits A and B alike: multiplying both requests of each
    block by that block's factor (a slow day, a burst, a trend) leaves the verdict exactly as it was."""
    a, b = lognormal(16, seed=5), lognormal(16, ratio=1.25, seed=6)
    calm = gate_paired("e2e", Paired.of(a, b), higher_is_better=False, tolerance=Tolerance(0.1), policy=POLICY)
    days = np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.2, 16)))  # a wild random walk
    drifted = gate_paired(
        "e2e", Paired.of(a * days, b * days), higher_is_better=False, tolerance=Tolerance(0.1), policy=POLICY
    )
    assert calm.verdict == drifted.verdict == "regression"
    assert drifted.ratio == pytest.approx(calm.ratio) and drifted.mde == pytest.approx(calm.mde)
    assert drifted.tau is None  # no drift term in the paired design


def test_higher_is_better_metrics_regress_when_b_drops() -> None:
    a = 1000 * lognormal(20, seed=1)
    assert decide(a, a * 0.7, higher_is_better=True) == "regression"


def test_too_few_pairs_say_how_many_are_needed() -> None:
    verdict = gate_paired(
        "e2e",
        Paired.of([1.0, 1.1], [1.5, 1.6]),
        higher_is_better=False,
        tolerance=Tolerance(relative=0.10),
        policy=POLICY,
    )
    assert verdict.verdict == "inconclusive"
    assert f"needs {min_pairs(0.05)}" in verdict.note


def test_pairs_with_a_failed_side_are_dropped_and_counted() -> None:
    paired = Paired.of([1.0, float("nan"), 2.0, 0.0], [1.1, 1.2, float("inf"), 3.0])
    assert paired.a.tolist() == [1.0] and paired.b.tolist() == [1.1] and paired.dropped == 3


def test_block_orders_are_balanced_seeded_and_random() -> None:
    orders = block_orders(40, seed=1)
    assert len(orders) == 40 and sum(orders) == 20
    assert all(orders[i] != orders[i + 1] for i in range(0, 40, 2))  # ABBA or BAAB, pair by pair
    assert orders == block_orders(40, seed=1)
    assert orders != block_orders(40, seed=2)
    assert len(set(map(tuple, (block_orders(2, seed) for seed in range(20))))) == 2  # both pair orders occur


def settings(cli: dict[str, Any], ab_key: str | None = None) -> Settings:
    values = RawValues(lambda dest: cli.get(dest), lambda key: None, {})
    return resolve(values, root=Path("/project"), api_key=None, ab_api_key=ab_key)


def test_ab_options_make_a_side() -> None:
    resolved = settings({"perf_ab_set": ["reasoning_effort=low", "max_completion_tokens=64"], "perf_ab_model": "m"})
    assert resolved.ab is not None
    assert dict(resolved.ab.request) == {"reasoning_effort": "low", "max_completion_tokens": 64}
    assert resolved.ab.describe() == "model m, reasoning_effort=low, max_completion_tokens=64"
    assert settings({}).ab is None


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("reasoning_effort", "--perf-ab-set: expected FIELD=VALUE"),
        ("effort=low", "--perf-ab-set: unknown request field 'effort'"),
        ("reasoning_effort=extreme", "--perf-ab-set: reasoning_effort must be one of"),
        ("max_completion_tokens=-3", "--perf-ab-set: max_completion_tokens must be a whole number >= 1"),
        ("temperature=[1", "--perf-ab-set: temperature: the value '[1' is not valid YAML"),
    ],
)
def test_bad_ab_set_is_one_line_naming_the_option(assignment: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings({"perf_ab_set": [assignment]})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_save_is_refused_in_ab_mode() -> None:
    with pytest.raises(SettingsError, match=r"^--perf-save: refused in A/B mode"):
        settings({"perf_ab_model": "m", "perf_save": True})


def test_the_ab_key_never_shows() -> None:
    resolved = settings({"perf_ab_base_url": "http://127.0.0.1:9/v1"}, ab_key="sk-ab-secret-123")
    assert resolved.ab is not None and resolved.ab.base_url == "http://127.0.0.1:9"
    assert "sk-ab-secret-123" not in repr(resolved) + resolved.ab.describe()
