"""Endpoint dialects, pure: llama.cpp / vLLM / llama-cpp-python streams parsed, lengths pinned per target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_cerebras_perf.dialect import (
    cache_warning,
    cold,
    describe,
    length_fields,
    length_mismatch,
    pin_length,
    token_count_warnings,
)
from pytest_cerebras_perf.measure import RawStream
from pytest_cerebras_perf.metrics import Sample
from pytest_cerebras_perf.scenarios import ScenarioError, build_scenario
from pytest_cerebras_perf.settings import RawValues, Settings, SettingsError, resolve

IDENT = {"id": "c1", "created": 1, "model": "m", "object": "chat.completion.chunk", "system_fingerprint": "b1"}
DONE = b"data: [DONE]\n\n"


def event(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps({**IDENT, **body}).encode() + b"\n\n"


def delta(**fields: str) -> bytes:
    return event({"choices": [{"index": 0, "delta": fields, "finish_reason": None}]})


def finish(reason: str = "length", **extra: Any) -> bytes:
    return event({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}], **extra})


def sample(*events: bytes) -> Sample:
    """The sample load.py would make of these events, each arriving 1 ms after the previous one."""
    chunks = [(1_000_000 * (i + 1), e) for i, e in enumerate((*events, DONE))]
    measurement = RawStream("r", 0, 0, chunks[-1][0], chunks, {}).measurement()
    return Sample(
        ok=True,
        timing=measurement.timing,
        usage=measurement.usage,
        server=measurement.server,
        response=measurement.response,
    )


TIMINGS = {"cache_n": 3, "prompt_n": 9, "prompt_ms": 2.5, "predicted_n": 4, "predicted_ms": 8.0}
LLAMACPP_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 4,
    "total_tokens": 16,
    "prompt_tokens_details": {"cached_tokens": 3},
}


def test_llama_server_with_usage_on_request_reports_counts_timings_and_reasoning_content() -> None:
    thinking = sample(
        delta(reasoning_content="a"),
        delta(reasoning_content="b"),
        delta(content="c"),
        delta(content="d"),
        finish(),
        event({"choices": [], "usage": LLAMACPP_USAGE, "timings": TIMINGS}),
    )
    assert thinking.ttft == pytest.approx(0.001)  # the first thinking token, not the first content token
    assert thinking.ttfo == pytest.approx(0.003)
    assert thinking.completion_tokens == 4 and thinking.prompt_tokens == 12
    assert thinking.usage is not None and thinking.usage.cached_tokens == 3 and thinking.usage.source == "usage"
    assert thinking.server_prompt == pytest.approx(0.0025) and thinking.server_completion == pytest.approx(0.008)
    assert thinking.server_total == pytest.approx(0.0105) and thinking.server_queue is None
    assert thinking.response.finish_reason == "length" and thinking.response.reasoning_field == "reasoning_content"
    assert describe([thinking]) == (
        "llama.cpp (usage on request, timings), thinking in delta.reasoning_content; missing: server queue time, "
        "reasoning token counts (counted from chunks)"
    )


def test_llama_server_without_usage_counts_from_its_timings_not_from_chunks() -> None:
    # an empty-content chunk (a partial UTF-8 character held back) must not lower the count
    counted = sample(delta(content="x"), delta(content=""), delta(content="y"), finish(timings=TIMINGS))
    assert counted.completion_tokens == 4 and counted.prompt_tokens == 12
    assert counted.usage is not None and counted.usage.source == "timings" and counted.usage.cached_tokens == 3
    assert token_count_warnings([counted]) == []


def test_a_stream_without_usage_or_timings_leaves_the_prompt_unknown_and_says_so() -> None:
    bare = sample(delta(content="x"), delta(content="y"), finish("stop"))
    assert bare.completion_tokens == 2
    assert bare.prompt_tokens is None and bare.usage is not None and bare.usage.total_tokens is None
    written = bare.to_json()["usage"]
    assert bare.value("prompt_tokens") is None and written is not None and written["prompt_tokens"] is None
    (warning,) = token_count_warnings([bare])
    assert "1 of 1 responses sent no token counts" in warning
    assert describe([bare]) == (
        "OpenAI-compatible without usage (llama-cpp-python-like); missing: server times, token counts (counted "
        "from chunks), prompt tokens, cached tokens"
    )


def test_vllm_style_usage_without_details_or_server_times() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    vllm = sample(delta(content="x"), delta(content="y"), finish(), event({"choices": [], "usage": usage}))
    assert vllm.prompt_tokens == 5 and vllm.usage is not None and vllm.usage.cached_tokens is None
    assert describe([vllm]) == (
        "OpenAI-compatible (usage, no server times: vLLM/SGLang-like); missing: server times, cached tokens"
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            ("max_completion_tokens", "min_completion_tokens"),
            {"max_completion_tokens": 32, "min_completion_tokens": 32},
        ),
        (("max_tokens", "min_tokens"), {"max_tokens": 32, "min_tokens": 32}),
        (("max_completion_tokens", "max_tokens", "ignore_eos"), {"max_completion_tokens": 32, "max_tokens": 32}),
    ],
)
def test_a_pinned_length_goes_out_in_the_fields_the_target_honours(
    fields: tuple[str, ...], expected: dict[str, int]
) -> None:
    request = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 32,
        "min_completion_tokens": 32,
    }
    sent = pin_length(request, fields)
    assert {k: v for k, v in sent.items() if k not in ("messages", "extra_body")} == expected
    assert sent.get("extra_body") == ({"ignore_eos": True} if "ignore_eos" in fields else None)


def test_length_fields_default_by_target_kind_and_the_setting_wins() -> None:
    assert length_fields(None, "custom") == ("max_completion_tokens", "max_tokens", "min_tokens")
    assert length_fields(None, "cloud") == ("max_completion_tokens", "min_completion_tokens")
    assert length_fields(("max_tokens", "ignore_eos"), "custom") == ("max_tokens", "ignore_eos")


def test_lengths_off_the_pin_are_named_with_the_fix() -> None:
    short = sample(delta(content="x"), finish("stop", timings=TIMINGS))  # 4 tokens by the server's count
    warning = length_mismatch([short], 32, 32, ("max_tokens",))
    assert warning is not None and "1 of 1 responses were not of the scenario's length 32 tokens: 4..4" in warning
    assert "finish_reason stop" in warning and "ignore_eos" in warning
    assert length_mismatch([short], None, 32, ("max_tokens",)) is None  # only a cap: stopping early is allowed


def test_cache_hits_warn_unless_the_scenario_is_cold_and_cold_prompts_differ() -> None:
    hit = sample(delta(content="x"), finish(), event({"choices": [], "usage": LLAMACPP_USAGE}))
    warning = cache_warning([hit], is_cold=False)
    assert warning is not None and "median 25% of prompt tokens cached" in warning
    assert cache_warning([hit], is_cold=True) is None
    request: dict[str, Any] = {"messages": [{"role": "user", "content": "same"}], "max_tokens": 3}
    first, second = cold(request), cold(request)
    assert first["messages"][0]["content"] != second["messages"][0]["content"]
    assert first["messages"][0]["content"].endswith("\nsame") and request["messages"][0]["content"] == "same"


def test_cerebras_stream_names_its_dialect_and_reads_time_info() -> None:
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    time_info = {"queue_time": 0.001, "prompt_time": 0.002, "completion_time": 0.003, "total_time": 0.006}
    cerebras = sample(
        delta(reasoning="r"), delta(content="x"), delta(content="y"), finish(usage=usage, time_info=time_info)
    )
    assert cerebras.server_queue == 0.001 and cerebras.server.source == "time_info"
    assert cerebras.usage is not None and cerebras.usage.cached_tokens == 0 and cerebras.reasoning_tokens == 1
    assert describe([cerebras]) == "Cerebras (usage, time_info), thinking in delta.reasoning; nothing missing"


def _settings(**cli: str) -> Settings:
    values = RawValues(lambda dest: cli.get(dest), lambda key: None, {})
    return resolve(values, root=Path("."), api_key=None)


def test_bad_length_fields_error_rate_and_prompt_cache_name_their_source(tmp_path: Path) -> None:
    assert _settings().length_fields is None and _settings().max_error_rate == 0.05
    assert _settings(perf_length_fields="max_tokens, ignore_eos").length_fields == ("max_tokens", "ignore_eos")
    with pytest.raises(SettingsError, match=r"^--perf-length-fields: unknown length field 'n_predict'"):
        _settings(perf_length_fields="max_tokens,n_predict")
    with pytest.raises(SettingsError, match=r"^--perf-max-error-rate: expected a fraction from 0 to 1"):
        _settings(perf_max_error_rate="5")
    with pytest.raises(ScenarioError, match=r"'prompt_cache' must be one of warm, cold, got 'hot'"):
        build_scenario("s", {"prompt": "p", "prompt_cache": "hot"}, where="scenarios.yaml:3", base=tmp_path)
    assert build_scenario("s", {"prompt": "p", "prompt_cache": "cold"}, where="x", base=tmp_path).prompt_cache == "cold"
