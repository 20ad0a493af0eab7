"""Parsing after the fact: raw timestamped bytes -> token times, usage, time_info (pure, no server)."""

from __future__ import annotations

import json

import pytest

from pytest_cerebras_perf.measure import StreamError, parse_stream

IDENT = {"id": "c1", "created": 1, "model": "m", "object": "chat.completion.chunk", "system_fingerprint": "fp"}


def frame(delta: dict[str, object], **extra: object) -> bytes:
    body = {**IDENT, "choices": [{"index": 0, "delta": delta}], **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_role_frame_is_not_a_token_and_events_split_across_chunks() -> None:
    final = frame(
        {}, usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, time_info={"total_time": 0.01}
    )
    raw = frame({"role": "assistant", "content": ""}) + frame({"content": "Hel"})
    chunks = [(100, raw[:-10]), (200, raw[-10:]), (300, frame({"content": "lo"})), (400, final + b"data: [DONE]\n\n")]
    parsed = parse_stream(chunks)
    assert parsed.first_token_ns == 200  # the 'Hel' event completes in the second network chunk
    assert parsed.chunk_ns == [200, 300]
    assert "".join(parsed.content) == "Hello"
    assert parsed.done_ns == 400
    assert parsed.usage is not None and parsed.usage["completion_tokens"] == 4
    assert parsed.time_info == {"total_time": 0.01}


def test_reasoning_counts_as_first_token() -> None:
    parsed = parse_stream([(5, frame({"reasoning": "hmm"})), (9, frame({"content": "ok"}))])
    assert parsed.first_token_ns == 5


def test_crlf_framing() -> None:
    parsed = parse_stream([(1, frame({"content": "x"}).replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n")])
    assert parsed.first_token_ns == 1 and parsed.done_ns == 1


def test_error_event_inside_200_stream_raises() -> None:
    error = b'data: {"error": {"message": "boom", "type": "server_error", "code": "x"}, "status_code": 500}\n\n'
    with pytest.raises(StreamError) as excinfo:
        parse_stream([(1, frame({"content": "a"})), (2, error)])
    assert excinfo.value.status == 500 and str(excinfo.value) == "boom"
