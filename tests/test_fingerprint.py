"""A new ``system_fingerprint`` means a new model build: shown when it changes within a run or since
the baseline was accepted, silent otherwise (pure)."""

from __future__ import annotations

from pytest_cerebras_perf.baselines import BaselineRun, ScenarioBaseline
from pytest_cerebras_perf.fingerprint import fingerprint_warnings, fingerprints
from pytest_cerebras_perf.metrics import ResponseInfo, Sample


def sample(fingerprint: str | None, ok: bool = True) -> Sample:
    return Sample(ok=ok, response=ResponseInfo(system_fingerprint=fingerprint))


def baseline(*accepted: str) -> ScenarioBaseline:
    run = BaselineRun("r", "2026-10-01T00:00:00Z", None, 10, {}, 0.0, system_fingerprints=accepted)
    return ScenarioBaseline(runs=(run,), tolerances={})


def test_distinct_fingerprints_in_order_of_appearance() -> None:
    samples = [sample("fp_a"), sample(None), sample("fp_b"), sample("fp_a"), sample("fp_c", ok=False)]
    assert fingerprints(samples) == ("fp_a", "fp_b")


def test_a_change_during_the_run_is_shown() -> None:
    (warning,) = fingerprint_warnings([sample("fp_a"), sample("fp_b")], baseline("fp_a"))
    assert warning.startswith("system_fingerprint changed during the run (fp_a -> fp_b): the model changed")


def test_a_change_since_the_baseline_is_shown() -> None:
    (warning,) = fingerprint_warnings([sample("fp_new")] * 3, baseline("fp_old"))
    assert "fp_new differs from the baseline's fp_old" in warning


def test_no_warning_when_nothing_changed_or_nothing_is_known() -> None:
    assert fingerprint_warnings([sample("fp_a")] * 3, baseline("fp_a")) == []
    assert fingerprint_warnings([sample("fp_a")] * 3, None) == []
    assert fingerprint_warnings([sample("fp_a")] * 3, baseline()) == []  # a baseline from before fingerprints
    assert fingerprint_warnings([sample(None)] * 3, baseline("fp_a")) == []  # an endpoint that sends none
