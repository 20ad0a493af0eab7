"""Today's defaults and the emulator's reasoning model (pure, no server): the current profiles, one
default profile for the plugin and the emulator's command line, the cloud's preferred model, and the
reasoning-token draws and output plan that a request's effort and caps decide."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from pytest_cerebras_perf.emulator import ConfigError, load_profile
from pytest_cerebras_perf.emulator.__main__ import _parser
from pytest_cerebras_perf.emulator.profile import DEFAULT_PROFILE
from pytest_cerebras_perf.emulator.reasoning import draw_reasoning_tokens
from pytest_cerebras_perf.emulator.request_body import parse_generation
from pytest_cerebras_perf.settings import RawValues, Secret, resolve
from pytest_cerebras_perf.target import Endpoint, default_model


def test_the_plugin_and_the_emulator_command_start_with_the_same_current_profile() -> None:
    settings = resolve(RawValues(lambda _: None, lambda _: None, {}), root=Path("/p"), api_key=None)
    assert settings.emulator_profile == DEFAULT_PROFILE == _parser().parse_args([]).profile
    profile = load_profile(DEFAULT_PROFILE)
    assert profile.models == ("gpt-oss-120b",) and profile.decode_tps == 3000 and not profile.retired
    assert list(profile.reasoning_tokens) == ["low", "medium", "high"] and profile.default_reasoning_effort == "medium"


def test_qwen_is_current_and_llama_is_kept_retired_for_the_study() -> None:
    qwen = load_profile("cerebras-qwen-3.8-27b")
    assert qwen.models == ("qwen-3.8-27b",) and qwen.decode_tps == 1850 and not qwen.retired
    assert list(qwen.reasoning_tokens) == ["none", "low", "medium", "high"] and qwen.default_reasoning_effort == "high"
    llama = load_profile("cerebras-llama-3.3-70b")
    assert llama.retired and llama.models[0] == "llama-3.3-70b" and not llama.reasoning_tokens


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reasoning_tokens": {"max": 10}}, "--set: field 'reasoning_tokens.max': unknown effort"),
        ({"reasoning_tokens": {"low": -1}}, "--set: field 'reasoning_tokens.low': expected a number >= 0"),
        ({"default_reasoning_effort": "none"}, "--set: field 'default_reasoning_effort': 'none' is not in"),
    ],
)
def test_bad_reasoning_settings_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_profile(DEFAULT_PROFILE, overrides)


def test_reasoning_draws_are_reproducible_and_centred_on_the_effort_mean() -> None:
    profile = load_profile(DEFAULT_PROFILE)
    draws = {e: [draw_reasoning_tokens(profile, e, False, n) for n in range(1, 401)] for e in ("low", "high")}
    assert draws["low"] == [draw_reasoning_tokens(profile, "low", False, n) for n in range(1, 401)]
    assert statistics.mean(draws["low"]) == pytest.approx(100, rel=0.1)
    assert statistics.mean(draws["high"]) == pytest.approx(1500, rel=0.1)
    assert draw_reasoning_tokens(profile, "high", True, 1) == 0  # disable_reasoning


def test_reasoning_counts_against_the_completion_cap() -> None:
    body = parse_generation(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', "chat")
    assert body.output_plan(150, 400) == (400, 550, "stop")
    capped = parse_generation(
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 300}', "chat"
    )
    assert capped.output_plan(150, 400) == (300, 300, "length")  # all thinking, no room for an answer
    floored = parse_generation(
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "min_completion_tokens": 2000}', "chat"
    )
    assert floored.output_plan(150, 400) == (400, 2000, "stop")


def test_the_cloud_prefers_gpt_oss_and_other_endpoints_take_their_first_model() -> None:
    cloud = Endpoint("cloud", "https://api.cerebras.ai", Secret("k"))
    assert default_model(cloud, ["llama3.1-8b", "gpt-oss-120b"]) == "gpt-oss-120b"
    assert default_model(cloud, ["qwen-3.8-27b"]) == "qwen-3.8-27b"
    emulator = Endpoint("emulator", "http://127.0.0.1:1", Secret("k"))
    assert default_model(emulator, ["llama-3.3-70b", "gpt-oss-120b"]) == "llama-3.3-70b"
    assert default_model(cloud, []) is None
