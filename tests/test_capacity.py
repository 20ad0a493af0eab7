"""Open-loop capacity: the client holds as many requests in flight as the rate brings."""

from __future__ import annotations

import json

import pytest
from perf_sessions import PLUGIN

from pytest_cerebras_perf.capacity import SPARE, in_flight_capacity


def test_closed_loops_keep_their_pool_and_open_loops_follow_littles_law() -> None:
    assert in_flight_capacity(8) == 8 + SPARE
    assert in_flight_capacity(8, 20.0, None) == 8 + SPARE
    twenty_half_second = in_flight_capacity(1, 20.0, 0.5)  # 10 in flight on average, 15 with headroom
    assert twenty_half_second >= 15 + 3 * 15**0.5
    assert in_flight_capacity(1, 40.0, 0.5) > twenty_half_second > in_flight_capacity(1, 20.0, 0.25)
    assert in_flight_capacity(64, 1.0, 0.1) == 64 + SPARE  # never below the closed loop's


def test_an_open_loop_is_not_held_to_concurrency_plus_two(pytester: pytest.Pytester) -> None:
    """20 requests/s of 0.5 s requests keep ~10 in flight; a pool of concurrency + 2 allowed 3."""
    pytester.makefile(".yaml", scenarios="scenarios:\n  s:\n    prompt: hi\n    max_completion_tokens: 4\n")
    pytester.makefile(".yaml", slow="base: fast\nttft_base: 0.5\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.scenario\ndef test_rate(cerebras_call):\n    cerebras_call()\n")
    results = pytester.path / "results.json"
    outcome = pytester.runpytest_subprocess(
        *PLUGIN, "--perf-emulator-profile", "slow.yaml", "--request-rate", "20",
        "--iterations", "20", "--perf-no-gate", "--perf-report", "none", "--perf-seed-results", "none",
        "--perf-json", str(results),
    )  # fmt: skip
    outcome.assert_outcomes(passed=1)
    (scenario,) = json.loads(results.read_text())["scenarios"]
    assert scenario["aggregate"]["errors"] == 0
    assert scenario["aggregate"]["mean_in_flight"] > 1 + SPARE + 1
