"""Faults and limits as the SDK sees them: the right exception class, status, body and headers."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cerebras.cloud.sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncCerebras,
    AsyncStream,
    AuthenticationError,
    Cerebras,
    DefaultAioHttpClient,
    InternalServerError,
    RateLimitError,
    Stream,
)
from cerebras.cloud.sdk.types.chat.chat_completion import ChatChunkResponse
from cerebras.cloud.sdk.types.chat.completion_create_params import MessageUserMessageRequest

from pytest_cerebras_perf.emulator import EmulatorProcess

MODEL = "llama-3.3-70b"
MESSAGES: list[MessageUserMessageRequest] = [{"role": "user", "content": "hello"}]
API_KEY = "emulator-test-key"
RPM_BODY = {
    "message": "Requests per minute limit exceeded - too many requests sent.",
    "type": "too_many_requests_error",
    "param": "quota",
    "code": "request_quota_exceeded",
}
TPM_BODY = {
    "message": "Tokens per minute limit exceeded - too many tokens processed.",
    "type": "too_many_requests_error",
    "param": "quota",
    "code": "token_quota_exceeded",
}
TPD_BODY = {
    "message": "Tokens per day limit exceeded - too many tokens processed.",
    "type": "too_many_requests_error",
    "param": "quota",
    "code": "token_quota_exceeded",
}
UNLIMITED = {
    "requests_per_minute": 10**9,
    "requests_per_day": 10**9,
    "tokens_per_minute": 10**9,
    "tokens_per_day": 10**9,
    "retry_after_header": False,
}


@pytest.fixture
def client(emulator: EmulatorProcess) -> Iterator[Cerebras]:
    emulator.set_profile(UNLIMITED)
    emulator.set_faults([])
    emulator.reset()
    with Cerebras(api_key=API_KEY, base_url=emulator.url, max_retries=0) as sdk_client:
        yield sdk_client


def _chat(client: Cerebras, **options: Any) -> object:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **options)


def _drain(client: Cerebras) -> list[str]:
    """Stream one answer; returns the content pieces received before anything went wrong."""
    pieces: list[str] = []
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, Stream)
    for chunk in stream:
        assert isinstance(chunk, ChatChunkResponse)
        if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    return pieces


@pytest.mark.parametrize(
    ("kind", "body"), [("rate_limit_rpm", RPM_BODY), ("rate_limit_tpm", TPM_BODY), ("rate_limit_tpd", TPD_BODY)]
)
def test_injected_429s_raise_rate_limit_error_with_the_exact_body(
    emulator: EmulatorProcess, client: Cerebras, kind: str, body: dict[str, str]
) -> None:
    emulator.set_faults([{"kind": kind, "at": [1], "retry_after": 2.5}])
    with pytest.raises(RateLimitError) as raised:
        _chat(client, stream=True)
    assert raised.value.status_code == 429
    assert raised.value.body == body
    assert raised.value.response.headers["retry-after"] == "3"
    assert "x-ratelimit-remaining-tokens-minute" in raised.value.response.headers
    assert _chat(client) is not None  # request 2 is not selected


def test_real_buckets_refuse_each_quota_with_its_own_body(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_profile({"requests_per_minute": 1, "retry_after_header": True})
    _chat(client)
    with pytest.raises(RateLimitError) as raised:
        _chat(client)
    assert raised.value.body == RPM_BODY
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60
    assert raised.value.response.headers["x-ratelimit-remaining-requests-minute"] == "0"

    emulator.set_profile({**UNLIMITED, "tokens_per_minute": 100})
    with pytest.raises(RateLimitError) as raised:
        _chat(client, max_completion_tokens=200)  # reserves prompt + 200 > 100
    assert raised.value.body == TPM_BODY

    emulator.set_profile({**UNLIMITED, "tokens_per_day": 100})
    with pytest.raises(RateLimitError) as raised:
        _chat(client, max_completion_tokens=200)
    assert raised.value.body == TPD_BODY
    assert [record["outcome"] for record in emulator.truth()] == ["ok", "rate_limited", "rate_limited", "rate_limited"]


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_503", 503)])
def test_server_errors_raise_internal_server_error(
    emulator: EmulatorProcess, client: Cerebras, kind: str, status: int
) -> None:
    emulator.set_faults([{"kind": kind, "every": 2}])
    _chat(client)
    with pytest.raises(InternalServerError) as raised:
        _chat(client)
    assert raised.value.status_code == status
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "server_error"
    _chat(client)
    with pytest.raises(InternalServerError):
        _chat(client, stream=True)


def test_error_event_in_a_200_stream_raises_after_the_chunks_before_it(
    emulator: EmulatorProcess, client: Cerebras
) -> None:
    emulator.set_faults([{"kind": "stream_error", "at": [1], "after_chunks": 3}])
    with pytest.raises(InternalServerError) as raised:
        _drain(client)
    assert raised.value.response.status_code == 200 and raised.value.status_code == 500
    (record,) = emulator.truth()
    assert record["fault"] == "stream_error" and record["chunks"] == 3


def test_async_client_raises_on_a_mid_stream_error_too(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_faults([{"kind": "stream_error", "at": [1], "after_chunks": 2}])

    async def run() -> int:
        received = 0
        async with AsyncCerebras(
            api_key=API_KEY, base_url=emulator.url, max_retries=0, http_client=DefaultAioHttpClient()
        ) as async_client:
            stream = await async_client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            assert isinstance(stream, AsyncStream)
            with pytest.raises(InternalServerError):
                async for _ in stream:
                    received += 1
        return received

    assert asyncio.run(run()) == 3  # the role frame and two content chunks


def test_dropped_connections_surface_as_connection_errors(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_faults([{"kind": "drop", "at": [1, 2]}, {"kind": "drop", "at": [3], "after_chunks": 4}])
    with pytest.raises(APIConnectionError):
        _chat(client)
    with pytest.raises(APIConnectionError):
        _chat(client, stream=True)
    # Mid-body, the SDK lets the transport's own error through (httpx's, for either HTTP client).
    with pytest.raises(httpx.TransportError):
        _drain(client)
    assert [record["chunks"] for record in emulator.truth()] == [0, 0, 4]


def test_a_hanging_request_times_out_and_is_released_when_the_client_leaves(
    emulator: EmulatorProcess, client: Cerebras
) -> None:
    emulator.set_faults([{"kind": "hang", "at": [1]}])
    with pytest.raises(APITimeoutError):
        _chat(client, timeout=0.5)
    deadline = time.monotonic() + 5
    while emulator.truth()[0]["outcome"] != "disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    (record,) = emulator.truth()
    assert record["outcome"] == "disconnected" and record["first_byte_ns"] is None


def test_slow_first_byte_delays_the_response_start(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_faults([{"kind": "slow_first_byte", "at": [1], "delay": 0.3}])
    started = time.perf_counter()
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        headers_after = time.perf_counter() - started
        assert sum(1 for _ in response.iter_lines()) > 0
    assert headers_after >= 0.3
    (record,) = emulator.truth()
    assert (record["first_byte_ns"] - record["arrival_ns"]) / 1e9 >= 0.3 and record["outcome"] == "fault"
    assert record["behind_schedule_s"] < 0.1  # the injected delay is not the emulator falling behind


def test_probability_faults_are_seeded(emulator: EmulatorProcess, client: Cerebras) -> None:
    def failures() -> list[bool]:
        emulator.set_faults([{"kind": "http_500", "probability": 0.5}])
        outcomes = []
        for _ in range(12):
            try:
                _chat(client, max_completion_tokens=1)
                outcomes.append(False)
            except InternalServerError:
                outcomes.append(True)
        return outcomes

    first = failures()
    assert first == failures() and 0 < sum(first) < 12


def test_a_wrong_or_missing_key_gets_a_401(emulator: EmulatorProcess, client: Cerebras) -> None:
    with (
        Cerebras(api_key="wrong-key", base_url=emulator.url, max_retries=0) as wrong,
        pytest.raises(AuthenticationError) as raised,
    ):
        wrong.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value.body == {
        "message": "Wrong API Key",
        "type": "invalid_request_error",
        "param": "api_key",
        "code": "wrong_api_key",
    }
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{emulator.url}/v1/models", timeout=5)
    assert missing.value.code == 401
    assert json.loads(missing.value.read())["code"] == "wrong_api_key"
    assert "x-ratelimit-limit-requests-day" in missing.value.headers
    assert API_KEY not in emulator.log_text()
