"""Session drift and slowdown rules: the emulator's "slower day" and its one-scenario regression.

The draw is tested as a pure function; the factor's effect on every request, its record in the
ground truth and the admin API, and the per-prompt slowdown are measured on a real emulator from
its own ground truth (server-side durations, so the client machine's noise does not enter).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cerebras.cloud.sdk import Cerebras

from pytest_cerebras_perf.emulator import ConfigError, EmulatorError, EmulatorProcess, load_profile
from pytest_cerebras_perf.emulator.latency import DecodeCapacity, RequestLatency, SessionDrift
from pytest_cerebras_perf.emulator.slowdowns import Slowdown, parse_slowdowns, slowdown_for
from pytest_cerebras_perf.session import PerfSession
from pytest_cerebras_perf.settings import RawValues, Secret, resolve
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
SLOW_PROMPT = "Tell a long story about a lighthouse."
OTHER_PROMPT = "List prime numbers."
STEADY = {"decode_tps": 2000.0, "default_output_tokens": 120, "jitter_sigma": 0.0, "slowdowns": []}


def test_builtin_drift_defaults_cerebras_drifts_and_fast_does_not() -> None:
    assert load_profile("cerebras-llama-3.3-70b").drift_tau == 0.05
    assert load_profile("fast").drift_tau == 0.0


def test_drift_draw_is_log_normal_with_sd_tau_and_fixed_by_its_seed() -> None:
    factors = [SessionDrift.draw(0.05, seed).factor for seed in range(4000)]
    logs = [math.log(f) for f in factors]
    assert abs(statistics.median(logs)) < 0.005
    assert 0.045 < statistics.stdev(logs) < 0.055
    assert SessionDrift.draw(0.05, 7) == SessionDrift.draw(0.05, 7)
    assert SessionDrift.draw(0.05, 7).source == "seeded"
    unseeded = {SessionDrift.draw(0.05, None).factor for _ in range(5)}
    assert len(unseeded) == 5  # a fresh draw every time
    assert SessionDrift.draw(0.0, None).factor == 1.0


def test_drift_scales_every_delay_and_a_slowdown_only_its_phase() -> None:
    profile = load_profile("fast").updated({"server_overhead": 0.002, "queue_time": 0.0}, "test")
    plain = RequestLatency(profile, 1, DecodeCapacity())
    drifted = RequestLatency(profile, 1, DecodeCapacity(), drift=1.5)
    slowed = RequestLatency(profile, 1, DecodeCapacity(), slowdown=Slowdown("x", prompt=1.0, decode=1.4))
    assert drifted.overhead_ns() == pytest.approx(1.5 * plain.overhead_ns(), rel=1e-6)
    assert drifted.prompt_delay_ns(500) == pytest.approx(1.5 * plain.prompt_delay_ns(500), rel=1e-6)
    assert drifted.decode_interval_ns(100) == pytest.approx(1.5 * plain.decode_interval_ns(100), rel=1e-6)
    assert slowed.decode_interval_ns(100) == pytest.approx(1.4 * plain.decode_interval_ns(100), rel=1e-6)
    assert slowed.prompt_delay_ns(500) == plain.prompt_delay_ns(500)
    assert slowed.overhead_ns() == plain.overhead_ns()


def test_slowdown_rules_match_the_prompt_text_first_rule_wins() -> None:
    rules = parse_slowdowns([{"match": "lighthouse", "decode": 1.4}, {"match": "light", "prompt": 2}], "test")
    assert slowdown_for(SLOW_PROMPT, rules).decode == 1.4
    assert slowdown_for("light beer", rules).prompt == 2.0
    assert slowdown_for(OTHER_PROMPT, rules) == Slowdown("", 1.0, 1.0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"drift_tau": -0.1}, "drift_tau"),
        ({"drift_seed": 1.5}, "drift_seed"),
        ({"slowdowns": [{"decode": 1.4}]}, "slowdowns[0].match"),
        ({"slowdowns": [{"match": "x", "decode": 0}]}, "slowdowns[0].decode"),
        ({"slowdowns": [{"match": "x", "speed": 2}]}, "slowdowns[0].speed"),
    ],
)
def test_bad_drift_or_slowdown_value_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_profile("fast").updated(changes, "source")
    assert str(raised.value).startswith(f"source: field '{field}'")


def _decode_seconds(emulator: EmulatorProcess, prompt: str, requests: int = 3) -> list[float]:
    """Server-side decode times (first to last token) of ``requests`` streamed answers to ``prompt``."""
    emulator.clear_truth()
    with Cerebras(api_key="unused", base_url=emulator.url, max_retries=0) as client:
        for _ in range(requests):
            for _chunk in client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
            ):
                pass
    return [(r["last_token_ns"] - r["first_token_ns"]) / 1e9 for r in emulator.truth()]


@pytest.fixture
def steady(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    emulator.set_profile(STEADY)
    emulator.set_drift(1.0)
    yield emulator
    emulator.set_profile(STEADY)
    emulator.set_drift(1.0)


def test_admin_drift_factor_slows_every_request_and_is_in_the_ground_truth(steady: EmulatorProcess) -> None:
    before = statistics.median(_decode_seconds(steady, OTHER_PROMPT))
    drift = steady.set_drift(1.5)
    assert drift["factor"] == 1.5 and drift["source"] == "admin"
    after = statistics.median(_decode_seconds(steady, OTHER_PROMPT))
    assert 1.35 < after / before < 1.65
    assert {r["drift_factor"] for r in steady.truth()} == {1.5}
    assert steady.stats()["drift"]["factor"] == 1.5
    with pytest.raises(EmulatorError, match="factor"):
        steady.set_drift(0)


def test_slowdown_rule_slows_only_the_matching_prompt(steady: EmulatorProcess) -> None:
    plain = statistics.median(_decode_seconds(steady, SLOW_PROMPT))
    steady.set_profile({"slowdowns": [{"match": "lighthouse", "decode": 1.4}]})
    slowed = statistics.median(_decode_seconds(steady, SLOW_PROMPT))
    other = statistics.median(_decode_seconds(steady, OTHER_PROMPT))
    assert 1.25 < slowed / plain < 1.55
    assert 0.85 < other / plain < 1.15


def test_each_start_draws_a_fresh_factor_unless_a_drift_seed_is_set() -> None:
    drawn = []
    for overrides in ({"drift_tau": 0.05}, {"drift_tau": 0.05}, {"drift_tau": 0.05, "drift_seed": 3}):
        with EmulatorProcess() as process:
            process.start("fast", overrides=overrides)
            drawn.append(process.drift())
    assert drawn[0]["factor"] != drawn[1]["factor"]
    assert drawn[0]["source"] == "random" and drawn[0]["tau"] == 0.05
    assert drawn[2] == SessionDrift.draw(0.05, 3).to_dict()


def test_the_gates_drift_prior_is_the_emulator_profiles_drift() -> None:
    """A prior below the emulator's real drift would turn every drift draw into a false alarm."""

    def prior(kind: str, profile: str) -> float:
        cli = {"perf_emulator_profile": profile}
        settings = resolve(RawValues(cli.get, lambda key: None, {}), root=Path("/project"), api_key=None)
        session = PerfSession(settings, root=Path("/project"))
        session.endpoint = Endpoint(kind, "http://127.0.0.1:1", Secret("unused"), profile)  # type: ignore[arg-type]
        return session.tau_prior

    assert prior("emulator", "cerebras-llama-3.3-70b") == 0.05
    assert prior("emulator", "fast") == 0.01  # no drift: the floor for a shared machine
    assert prior("custom", "fast") == 0.05  # a live endpoint
