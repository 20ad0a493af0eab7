"""The retry policy classifies SDK errors the way cerebras-api.md describes them (pure, no server)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from cerebras.cloud.sdk import APIConnectionError, InternalServerError, RateLimitError

from pytest_cerebras_perf.measure import StreamError
from pytest_cerebras_perf.redact import register_secret
from pytest_cerebras_perf.retry import (
    DailyQuotaExceeded,
    Exhausted,
    Pacer,
    RetryPolicy,
    call_with_retries,
    classify,
)

REQUEST = httpx.Request("POST", "http://x/v1/chat/completions")


def rate_limit(message: str, code: str, headers: dict[str, str] | None = None) -> RateLimitError:
    body = {"message": message, "type": "too_many_requests_error", "param": "quota", "code": code}
    response = httpx.Response(429, json=body, headers=headers or {}, request=REQUEST)
    return RateLimitError(f"Error code: 429 - {body}", response=response, body=body)


def test_minute_and_day_limits_are_told_apart() -> None:
    rpm = classify(
        rate_limit(
            "Requests per minute limit exceeded - too many requests sent.",
            "request_quota_exceeded",
            {"retry-after": "1.5"},
        )
    )
    assert (rpm.kind, rpm.retryable, rpm.wait_hint) == ("rate_limit", True, 1.5)
    tpm = classify(
        rate_limit(
            "Tokens per minute limit exceeded - too many tokens processed.",
            "token_quota_exceeded",
            {"x-ratelimit-reset-tokens-minute": "12.0"},
        )
    )
    assert (tpm.kind, tpm.wait_hint) == ("rate_limit", 12.0)
    tpd = classify(
        rate_limit(
            "Tokens per day limit exceeded - too many tokens processed.",
            "token_quota_exceeded",
            {"x-ratelimit-reset-tokens-day": "3600"},
        )
    )
    assert (tpd.kind, tpd.retryable, tpd.wait_hint) == ("daily_quota", False, 3600.0)
    by_header = classify(rate_limit("limit", "token_quota_exceeded", {"x-ratelimit-remaining-tokens-day": "0"}))
    assert by_header.kind == "daily_quota"


def test_other_failures() -> None:
    response = httpx.Response(503, json={"message": "busy"}, request=REQUEST)
    assert classify(InternalServerError("x", response=response, body={"message": "busy"})).kind == "server_error"
    assert classify(APIConnectionError(request=REQUEST)).kind == "connection"
    assert classify(StreamError(500, "mid", None)).kind == "stream_error"
    assert classify(asyncio.TimeoutError()).kind == "timeout"
    assert classify(ValueError("bad")).retryable is False


def test_messages_are_redacted() -> None:
    register_secret("sk-canary-retry-777")
    failure = classify(APIConnectionError(message="failed for key sk-canary-retry-777", request=REQUEST))
    assert "sk-canary-retry-777" not in failure.message


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_retries_are_counted_and_bounded() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise StreamError(500, "mid-stream", None)
        return "ok"

    policy = RetryPolicy(retries=3, backoff_initial=0.001, backoff_max=0.002)
    assert run(call_with_retries(flaky, policy)) == ("ok", 2)

    async def always() -> str:
        raise StreamError(500, "mid-stream", None)

    with pytest.raises(Exhausted) as excinfo:
        run(call_with_retries(always, RetryPolicy(retries=2, backoff_initial=0.001, backoff_max=0.002)))
    assert excinfo.value.retries == 2 and excinfo.value.failure.kind == "stream_error"


def test_daily_quota_stops_at_once() -> None:
    calls = 0

    async def quota() -> str:
        nonlocal calls
        calls += 1
        raise rate_limit("Tokens per day limit exceeded - too many tokens processed.", "token_quota_exceeded")

    with pytest.raises(DailyQuotaExceeded):
        run(call_with_retries(quota, RetryPolicy(retries=3)))
    assert calls == 1


def test_rate_limit_waits_as_told() -> None:
    calls = 0

    async def limited() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise rate_limit(
                "Requests per minute limit exceeded - too many requests sent.",
                "request_quota_exceeded",
                {"retry-after": "0.05"},
            )
        return "ok"

    loop = asyncio.new_event_loop()
    start = loop.time()
    assert loop.run_until_complete(call_with_retries(limited, RetryPolicy(retries=0))) == ("ok", 1)
    assert loop.time() - start >= 0.05  # waited what the server asked, even with 0 fault retries
    loop.close()


def test_pacer_waits_when_headers_say_no_room() -> None:
    pacer = Pacer()
    pacer.observe({"x-ratelimit-remaining-tokens-minute": "100", "x-ratelimit-reset-tokens-minute": "30"})
    assert pacer.delay_for(50) == 0
    assert 29 < pacer.delay_for(500) <= 30
    pacer.observe({"x-ratelimit-remaining-requests-minute": "0", "x-ratelimit-reset-requests-minute": "2"})
    assert 1 < pacer.delay_for(1) <= 30
