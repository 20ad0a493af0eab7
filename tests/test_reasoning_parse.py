"""Reasoning in a parsed stream (pure, no server): both field names peers use, TTFO, the token
breakdown from usage and its flagged fallback, and what the endpoint said about the response."""

from __future__ import annotations

import json

import pytest

from pytest_cerebras_perf.measure import RawStream

IDENT = {"id": "c1", "created": 1, "model": "m", "object": "chat.completion.chunk", "system_fingerprint": "fp_a"}
DONE = b"data: [DONE]\n\n"


def frame(delta: dict[str, str], finish: str | None = None, **extra: object) -> bytes:
    choice: dict[str, object] = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    return b"data: " + json.dumps({**IDENT, "choices": [choice], **extra}).encode() + b"\n\n"


def stream(*chunks: tuple[int, bytes]) -> RawStream:
    return RawStream("r", handed_ns=0, t0_ns=0, end_ns=chunks[-1][0], chunks=list(chunks), headers={})


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_deltas_start_ttft_and_content_starts_ttfo(field: str) -> None:
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 5,
        "total_tokens": 8,
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    measurement = stream(
        (1_000_000, frame({"role": "assistant", "content": ""})),
        (2_000_000, frame({field: "let me think"})),
        (3_000_000, frame({field: " more"})),
        (7_000_000, frame({"content": "Blue."})),
        (8_000_000, frame({}, "stop", usage=usage, service_tier="priority") + DONE),
    ).measurement()
    timing, usage_seen = measurement.timing, measurement.usage
    assert timing.first_token_ns == 2_000_000 and timing.first_content_ns == 7_000_000
    assert measurement.content == "Blue."  # reasoning text is not the answer
    assert usage_seen.reasoning_tokens == 3 and not usage_seen.reasoning_estimated
    assert usage_seen.completion_tokens_details == {"reasoning_tokens": 3}
    assert measurement.response.service_tier == "priority"
    assert measurement.response.system_fingerprint == "fp_a" and measurement.response.finish_reason == "stop"


def test_without_a_breakdown_reasoning_deltas_are_counted_and_flagged_estimated() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}
    measurement = stream(
        (1, frame({"reasoning_content": "a"})),
        (2, frame({"reasoning_content": "b"})),
        (3, frame({"content": "c"})),
        (4, frame({}, "stop", usage=usage) + DONE),
    ).measurement()
    assert measurement.usage.reasoning_tokens == 2 and measurement.usage.reasoning_estimated


def test_a_model_that_does_not_reason_has_ttfo_equal_to_ttft_and_no_reasoning_tokens() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    measurement = stream(
        (5, frame({"content": "a"})), (6, frame({"content": "b"})), (7, frame({}, "stop", usage=usage) + DONE)
    ).measurement()
    assert measurement.timing.first_content_ns == measurement.timing.first_token_ns == 5
    assert measurement.usage.reasoning_tokens == 0 and not measurement.usage.reasoning_estimated
