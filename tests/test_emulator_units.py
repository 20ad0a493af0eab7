"""Pure parts of the emulator: profiles, faults, rate buckets, text, output length, decode capacity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cerebras_perf.emulator import ConfigError, builtin_names, load_profile
from pytest_cerebras_perf.emulator.faults import FaultInjector, parse_faults
from pytest_cerebras_perf.emulator.latency import DecodeCapacity, chunk_sizes
from pytest_cerebras_perf.emulator.profile import parse_assignments
from pytest_cerebras_perf.emulator.ratelimit import RateLimits
from pytest_cerebras_perf.emulator.request_body import BadRequest, parse_generation
from pytest_cerebras_perf.emulator.text import count_tokens, generate_pieces, prompt_tokens


def test_builtin_profiles_load_with_their_documented_figures() -> None:
    assert {"fast", "cerebras-llama-3.3-70b", "capacity-limited"} <= set(builtin_names())
    cerebras = load_profile("cerebras-llama-3.3-70b")
    assert cerebras.decode_tps == 2200 and cerebras.prompt_tps == 26000
    assert 0.016 <= cerebras.queue_spike_min <= cerebras.queue_spike_max <= 0.020
    assert "llama-3.3-70b" in cerebras.models and "gpt-oss-120b" in cerebras.models
    limited = load_profile("capacity-limited")
    assert limited.capacity_tps == 8000 and limited.decode_tps == 2000


def test_profile_file_extends_a_builtin_and_set_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("base: cerebras-llama-3.3-70b\ndecode_tps: 1500\nmodels: [my-model]\n")
    profile = load_profile(str(path), parse_assignments(["decode_tps=1400", "capacity_tps=9000.5"]))
    assert profile.name == "mine"
    assert profile.decode_tps == 1400 and profile.capacity_tps == 9000.5
    assert profile.models == ("my-model",)
    assert profile.prompt_tps == 26000  # inherited from the base


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("decode_tps: fast\n", "decode_tps"),
        ("decode_tps: -3\n", "decode_tps"),
        ("tokens_per_chunk: 1.5\n", "tokens_per_chunk"),
        ("no_such_field: 1\n", "no_such_field"),
        ("faults:\n  - kind: explode\n", "faults[0].kind"),
        ("faults:\n  - {kind: drop, at: [0]}\n", "faults[0].at"),
        ("queue_spike_min: 0.5\nqueue_spike_max: 0.1\n", "queue_spike_min"),
    ],
)
def test_bad_profile_value_names_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_profile(str(path))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: field '{field}'")


def test_command_line_reports_a_bad_profile_in_one_line_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("base: fast\nprompt_tps: [1, 2]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_cerebras_perf.emulator", "--profile", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "'prompt_tps'" in lines[0]


def test_set_values_are_yaml_and_a_bad_set_names_its_source() -> None:
    assert parse_assignments(["capacity_tps=null", "models=[a, b]"]) == {"capacity_tps": None, "models": ["a", "b"]}
    with pytest.raises(ConfigError, match=r"^--set: field 'decode_tps'"):
        load_profile("fast", {"decode_tps": "quick"})
    with pytest.raises(ConfigError, match="expected field=value"):
        parse_assignments(["decode_tps"])


def test_fault_selectors_at_every_and_seeded_probability() -> None:
    faults = parse_faults([{"kind": "http_500", "at": [2]}, {"kind": "http_503", "every": 3}], "test")
    injector = FaultInjector(faults, seed=1)
    picked = [fault.kind if fault else None for _, fault in (injector.next_request() for _ in range(6))]
    assert picked == [None, "http_500", "http_503", None, None, "http_503"]

    def draws(seed: int) -> list[bool]:
        chance = FaultInjector(parse_faults([{"kind": "drop", "probability": 0.3}], "test"), seed)
        return [chance.next_request()[1] is not None for _ in range(400)]

    assert draws(7) == draws(7)
    assert 0.2 < sum(draws(7)) / 400 < 0.4


def test_replacing_faults_restarts_request_numbering() -> None:
    injector = FaultInjector((), seed=0)
    injector.next_request()
    injector.next_request()
    injector.replace(parse_faults([{"kind": "hang", "at": [1]}], "test"))
    number, fault = injector.next_request()
    assert number == 1 and fault is not None and fault.kind == "hang"


def test_rate_limits_reserve_up_front_refill_continuously_and_report_headers() -> None:
    requests = RateLimits(
        requests_per_minute=2, requests_per_day=100, tokens_per_minute=10**6, tokens_per_day=10**6, now=0.0
    )
    assert requests.admit(1, now=0.0) == (None, 0.0)
    assert requests.admit(1, now=0.0) == (None, 0.0)
    kind, wait = requests.admit(1, now=0.0)
    assert kind == "rpm" and wait == pytest.approx(30.0)  # one request refills in 60 s / 2
    assert requests.admit(1, now=30.0)[0] is None

    tokens = RateLimits(
        requests_per_minute=100, requests_per_day=100, tokens_per_minute=1000, tokens_per_day=5000, now=0.0
    )
    assert tokens.admit(600, now=0.0)[0] is None
    assert tokens.admit(500, now=0.0)[0] == "tpm"  # 400 left
    assert tokens.admit(500, now=6.0)[0] is None  # +100 after 6 s at 1000 tokens/min
    headers = tokens.headers(now=6.0)
    assert headers["x-ratelimit-limit-tokens-minute"] == "1000"
    assert headers["x-ratelimit-remaining-tokens-minute"] == "0"
    assert float(headers["x-ratelimit-reset-tokens-minute"]) == pytest.approx(60.0)
    assert headers["x-ratelimit-remaining-tokens-day"] == "3900"
    assert {
        "x-ratelimit-remaining-requests-day",
        "x-ratelimit-reset-requests-day",
        "x-ratelimit-limit-requests-minute",
    } <= headers.keys()


def test_a_refused_request_takes_nothing_from_any_bucket() -> None:
    limits = RateLimits(
        requests_per_minute=10, requests_per_day=10, tokens_per_minute=1000, tokens_per_day=100, now=0.0
    )
    assert limits.admit(500, now=0.0)[0] == "tpd"
    assert limits.headers(now=0.0)["x-ratelimit-remaining-requests-minute"] == "10"
    assert limits.headers(now=0.0)["x-ratelimit-remaining-tokens-minute"] == "1000"


def test_text_is_deterministic_and_its_token_count_matches_usage() -> None:
    first = generate_pieces("seed-a", 300)
    assert first == generate_pieces("seed-a", 300)
    assert first != generate_pieces("seed-b", 300)
    assert len(first) == 300
    assert count_tokens("".join(first)) == 300
    assert prompt_tokens([{"role": "user", "content": "Hello, world"}]) == 3 + 4
    assert prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "two words"}]}]) == 2 + 4


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, (0, 50, "stop")),
        ({"max_completion_tokens": 20}, (0, 20, "length")),
        ({"max_tokens": 80}, (0, 50, "stop")),
        ({"min_completion_tokens": 70}, (0, 70, "stop")),
        ({"min_tokens": 30, "max_completion_tokens": 30}, (0, 30, "length")),
    ],
)
def test_output_length_follows_min_max_and_the_profile_default(
    extra: dict[str, int], expected: tuple[int, int, str]
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    request = parse_generation(json.dumps(body).encode(), "chat")
    assert request.output_plan(default_output_tokens=50) == expected


def test_malformed_requests_name_the_field() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_generation(b'{"model": "m", "messages": []}', "chat")
    assert raised.value.param == "messages"
    with pytest.raises(BadRequest) as raised:
        parse_generation(b'{"model": "m", "messages": [{"content": "x"}], "max_completion_tokens": 0}', "chat")
    assert raised.value.param == "max_completion_tokens"


def test_continuous_batching_shares_capacity_between_decoding_streams() -> None:
    capacity = DecodeCapacity()
    capacity.active = 1
    assert capacity.per_stream_tps(2000, 8000) == 2000
    capacity.active = 16
    assert capacity.per_stream_tps(2000, 8000) == 500
    assert capacity.per_stream_tps(2000, None) == 2000
    assert chunk_sizes(10, 4) == [4, 4, 2]
