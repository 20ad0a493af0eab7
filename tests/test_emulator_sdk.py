"""The real cerebras-cloud-sdk against a real emulator process: the SDK must not tell it from the API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from cerebras.cloud.sdk import AsyncCerebras, AsyncStream, Cerebras, DefaultAioHttpClient, NotFoundError, Stream
from cerebras.cloud.sdk.types.chat.chat_completion import ChatChunkResponse, ChatCompletionResponse
from cerebras.cloud.sdk.types.chat.completion_create_params import MessageUserMessageRequest
from cerebras.cloud.sdk.types.completion import CompletionResponse
from present import present

from pytest_cerebras_perf.emulator import EmulatorError, EmulatorProcess
from pytest_cerebras_perf.request_id import REQUEST_ID_HEADER

MODEL = "llama-3.3-70b"
MESSAGES: list[MessageUserMessageRequest] = [{"role": "user", "content": "Say something about wafer-scale chips."}]
RATE_LIMIT_HEADERS = [
    f"x-ratelimit-{kind}-{window}"
    for kind in ("limit", "remaining", "reset")
    for window in ("requests-day", "tokens-minute", "requests-minute", "tokens-day")
]

BASELINE = {
    "default_output_tokens": 16,
    "decode_tps": 50_000.0,
    "tokens_per_minute": 10**9,
    "behind_schedule_min": 0.002,
    "behind_schedule_fraction": 0.05,
}


def answer(client: Cerebras, **params: Any) -> ChatCompletionResponse:
    """A non-streaming chat completion, narrowed from the SDK's union of response types."""
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, **params)
    assert isinstance(response, ChatCompletionResponse)
    return response


def streamed(client: Cerebras, **params: Any) -> list[ChatChunkResponse]:
    """Every chunk of a streamed chat completion; each must parse as a chunk."""
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, **params)
    assert isinstance(stream, Stream)
    chunks = list(stream)
    parsed = [chunk for chunk in chunks if isinstance(chunk, ChatChunkResponse)]
    assert len(parsed) == len(chunks), chunks
    return parsed


@pytest.fixture
def client(emulator: EmulatorProcess) -> Iterator[Cerebras]:
    emulator.set_profile(BASELINE)
    emulator.set_faults([])
    emulator.reset()
    with Cerebras(api_key="unused", base_url=emulator.url, max_retries=0) as sdk_client:
        yield sdk_client


def test_non_streaming_response_parses_with_usage_and_time_info(client: Cerebras) -> None:
    response = answer(client, max_completion_tokens=12)
    assert response.object == "chat.completion" and response.model == MODEL
    assert response.choices[0].message.content and response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 12
    assert response.usage.total_tokens == present(response.usage.prompt_tokens) + 12
    info = response.time_info
    assert info is not None and info.total_time and info.completion_time is not None
    assert info.total_time >= (info.queue_time or 0) + (info.prompt_time or 0) + info.completion_time


def test_every_streamed_chunk_parses_as_a_chunk_with_usage_only_at_the_end(client: Cerebras) -> None:
    chunks = streamed(client)
    first, contents, final = chunks[0], chunks[1:-1], chunks[-1]
    assert first.choices and first.choices[0].delta
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert all(chunk.usage is None and chunk.time_info is None for chunk in chunks[:-1])
    text = "".join(
        chunk.choices[0].delta.content or "" for chunk in contents if chunk.choices and chunk.choices[0].delta
    )
    assert final.usage is not None and final.usage.completion_tokens == 16 == len(contents)
    assert final.choices and final.choices[0].finish_reason == "stop"
    assert final.time_info is not None and final.time_info.completion_time is not None
    assert len({chunk.id for chunk in chunks}) == 1
    assert text == answer(client).choices[0].message.content


def test_async_client_with_aiohttp_streams_and_answers(emulator: EmulatorProcess, client: Cerebras) -> None:
    async def run() -> tuple[str, str, int | None]:
        async with AsyncCerebras(
            api_key="unused", base_url=emulator.url, max_retries=0, http_client=DefaultAioHttpClient()
        ) as async_client:
            stream = await async_client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            assert isinstance(stream, AsyncStream)
            pieces, tokens = [], None
            async for chunk in stream:
                assert isinstance(chunk, ChatChunkResponse)
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            whole = await async_client.chat.completions.create(model=MODEL, messages=MESSAGES)
            assert isinstance(whole, ChatCompletionResponse)
            return "".join(pieces), whole.choices[0].message.content or "", tokens

    streamed, whole, tokens = asyncio.run(run())
    assert streamed == whole != "" and tokens == 16


def test_rate_limit_headers_are_on_every_response_and_readable_raw(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_profile({"tokens_per_minute": 100_000})
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, max_completion_tokens=100)
    assert all(name in raw.headers for name in RATE_LIMIT_HEADERS)
    assert raw.headers["x-ratelimit-limit-tokens-minute"] == "100000"
    assert int(raw.headers["x-ratelimit-remaining-tokens-minute"]) < 100_000  # the reservation shows
    parsed = raw.parse()
    assert isinstance(parsed, ChatCompletionResponse) and parsed.usage is not None
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as streamed:
        assert all(name in streamed.headers for name in RATE_LIMIT_HEADERS)
    with pytest.raises(NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert raised.value.body == {
        "message": "Model no-such-model does not exist or you do not have access to it.",
        "type": "not_found_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert all(name in raised.value.response.headers for name in RATE_LIMIT_HEADERS)


def test_models_are_listed_and_retrieved(emulator: EmulatorProcess, client: Cerebras) -> None:
    listed = client.models.list()
    ids = [model.id for model in listed.data]
    assert ids == list(emulator.set_profile({})["models"])
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(NotFoundError):
        client.models.retrieve("missing-model")


def test_text_completions_stream_and_answer(client: Cerebras) -> None:
    stream = client.completions.create(model=MODEL, prompt="Once upon a time", stream=True, max_tokens=5)
    assert isinstance(stream, Stream)
    chunks = [chunk for chunk in stream if isinstance(chunk, CompletionResponse)]
    assert "".join(chunk.choices[0].text or "" for chunk in chunks) != ""
    whole = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5)
    assert isinstance(whole, CompletionResponse) and whole.usage is not None and whole.usage.completion_tokens == 5


def test_min_tokens_force_length_and_seed_fixes_the_text(client: Cerebras) -> None:
    forced = answer(client, min_completion_tokens=40, max_completion_tokens=40)
    assert forced.usage is not None and forced.usage.completion_tokens == 40
    old_style = answer(client, min_tokens=25)
    assert old_style.usage is not None and old_style.usage.completion_tokens == 25
    first = answer(client, seed=11).choices[0].message.content
    again = answer(client, seed=11).choices[0].message.content
    other = answer(client, seed=12).choices[0].message.content
    assert first == again != other


def test_request_id_header_links_a_request_to_its_ground_truth(emulator: EmulatorProcess, client: Cerebras) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers={REQUEST_ID_HEADER: "probe-42"}
    )
    assert isinstance(stream, Stream)
    stream.close()
    records = [record for record in emulator.truth() if record["request_id"] == "probe-42"]
    assert len(records) == 1 and records[0]["stream"] is True and records[0]["model"] == MODEL


def test_behind_schedule_is_reported_without_breaking_the_sdk(emulator: EmulatorProcess, client: Cerebras) -> None:
    emulator.set_profile({"behind_schedule_min": 0.0, "behind_schedule_fraction": 0.0})  # any lateness counts
    final = streamed(client)[-1]
    assert final.usage is not None
    report = (final.model_extra or {}).get("x_emulator")
    assert report is not None and report["behind_schedule_s"] > 0
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert float(raw.headers["x-emulator-behind-schedule"]) > 0
    stats = emulator.stats()
    assert stats["behind_schedule"] == 2 and stats["max_behind_schedule_s"] > 0


def test_admin_profile_change_takes_effect_on_the_next_request(emulator: EmulatorProcess, client: Cerebras) -> None:
    effective = emulator.set_profile({"decode_tps": 1000.0, "default_output_tokens": 101})
    assert effective["decode_tps"] == 1000.0
    emulator.clear_truth()
    streamed(client)
    (record,) = emulator.truth()
    rate = (record["completion_tokens"] - 1) / ((record["last_token_ns"] - record["first_token_ns"]) / 1e9)
    assert record["completion_tokens"] == 101
    assert 800 < rate < 1100  # 50,000 tok/s before the change


@pytest.mark.usefixtures("client")
def test_bad_admin_input_is_rejected_with_the_field_named(emulator: EmulatorProcess) -> None:
    with pytest.raises(EmulatorError, match="decode_tps"):
        emulator.set_profile({"decode_tps": "fast"})
    with pytest.raises(EmulatorError, match=r"faults\[0\]\.kind"):
        emulator.set_faults([{"kind": "meltdown"}])
    assert emulator.set_profile({})["decode_tps"] == BASELINE["decode_tps"]  # nothing was half-applied
