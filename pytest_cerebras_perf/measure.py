"""One measured request through the real SDK: timestamps in the hot path, parsing after.

``t0`` is when the request's body is written to the socket (an aiohttp trace), not when the SDK
starts building it (~1.4 ms earlier) nor when it hands the request to the transport: on Python < 3.12
aiohttp writes the body from a task that waits for its turn on the event loop, milliseconds at high
concurrency, and none of that is the endpoint's time. The httpx request hook's stamp (``handed_ns``)
is kept: ``t0 - handed_ns`` is the client's own queueing, one of its saturation signals.

While the response streams, the hot path only appends ``(perf_counter_ns(), bytes)``. Parsing waits
even longer: :func:`read_stream` only checks that the stream ended cleanly (``[DONE]``, no error
event) and returns a :class:`RawStream`; load.py parses it when the measured window ends, so a
finished request's ~4 ms of JSON never delays the timestamps of the streams still running.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import msgspec
from cerebras.cloud.sdk import AsyncCerebras
from cerebras.cloud.sdk.types.chat.completion_create_params import StreamOptions

from .metrics import ResponseInfo, ServerTimes, Timing, Usage
from .request_id import REQUEST_ID_HEADER

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Bytes one response may hold: a 32k-token answer streamed one token per chunk is ~8 MiB of SSE, so
only a server that streams without end gets here; the request is cut there, which bounds the client's
memory at this much per request in flight."""
SERVER_MESSAGE_CHARS = 200
STREAM_OPTIONS: StreamOptions = {"include_usage": True}
"""Asked of every stream: vLLM, SGLang and llama.cpp send ``usage`` in a stream only when asked (the
Cerebras API sends it anyway); without it the completion count falls back to counting chunks."""
_ERROR_KEY = re.compile(rb'"error"\s*:')
_MARKUP = re.compile(r"(?is)<(script|style)\b.*?</\1>|<[^>]*>")


class RequestClock:
    """Per request id: when the SDK handed the request to the transport (httpx hook) and when its body
    was written to the socket (aiohttp trace); the latter is the t0 of docs/metrics.md."""

    def __init__(self) -> None:
        self._handed: dict[str, int] = {}
        self._sent: dict[str, int] = {}

    async def on_request(self, request: httpx.Request) -> None:
        request_id = request.headers.get(REQUEST_ID_HEADER)
        if request_id is not None:
            self._handed[request_id] = time.perf_counter_ns()

    def trace_config(self) -> aiohttp.TraceConfig:
        """Stamps the first body write of each request; give it to the transport's ``ClientSession``."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._on_start)
        config.on_request_chunk_sent.append(self._on_chunk_sent)
        return config

    async def _on_start(
        self, _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        context.request_id = params.headers.get(REQUEST_ID_HEADER)

    async def _on_chunk_sent(
        self, _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        request_id = context.request_id
        if request_id is not None and request_id not in self._sent:
            self._sent[request_id] = time.perf_counter_ns()

    def pop(self, request_id: str) -> tuple[int, int] | None:
        """``(handed_ns, t0_ns)``; t0 falls back to the hand-over when the trace did not fire."""
        handed = self._handed.pop(request_id, None)
        sent = self._sent.pop(request_id, None)
        if handed is None:
            return None
        return handed, handed if sent is None else sent


class StreamError(Exception):
    """An error event inside an HTTP 200 stream (``data: {"error": ...}``)."""

    def __init__(self, status: int | None, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class IncompleteStream(Exception):
    """The connection ended before ``[DONE]`` and before the final chunk with usage."""


MALFORMED_RESPONSE = "malformed_response"
EMPTY_RESPONSE = "empty_response"
NOT_A_STREAM = "not_a_stream"
RESPONSE_TOO_LARGE = "response_too_large"


class BadResponse(Exception):
    """The endpoint answered, but not with a usable stream. ``kind`` (one of the constants above) is
    what the error sample records; asking again would get the same answer, so it is not retried."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def server_message(body: str | bytes) -> str:
    """What a non-stream body says, on one line: a JSON error's message, else the text without markup,
    cut at ``SERVER_MESSAGE_CHARS`` (callers redact it)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("error") is not None:
        error = document["error"]
        text = str(error.get("message") or error) if isinstance(error, dict) else str(error)
    else:
        text = _MARKUP.sub(" ", text)
    text = " ".join(text.split())
    return text if len(text) <= SERVER_MESSAGE_CHARS else text[: SERVER_MESSAGE_CHARS - 3] + "..."


@dataclass(frozen=True)
class Measurement:
    """What one successful attempt produced, still without any derived figure."""

    request_id: str
    timing: Timing
    usage: Usage
    server: ServerTimes
    content: str
    response: ResponseInfo = field(default_factory=ResponseInfo)


@dataclass
class _Parsed:
    first_token_ns: int | None = None
    first_content_ns: int | None = None
    done_ns: int | None = None
    chunk_ns: list[int] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    reasoning_chunks: int = 0
    usage: dict[str, Any] | None = None
    time_info: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    reasoning_field: str | None = None


def _events(chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Split raw bytes into SSE ``data:`` payloads, each stamped with the arrival of the network chunk
    that completed its line (the one holding its newline; the last chunk for an unterminated line).

    The bytes are joined and split once, in C; a line's chunk is found by walking the chunks' end
    offsets alongside the lines, so a response costs one pass, not one buffer copy per chunk.
    """
    if not chunks:
        return []
    data = b"".join(chunk for _, chunk in chunks)
    ends: list[int] = []
    offset = 0
    for _, chunk in chunks:
        offset += len(chunk)
        ends.append(offset)
    events: list[tuple[int, bytes]] = []
    index, last = 0, len(chunks) - 1
    position = 0
    for line in data.split(b"\n"):
        newline = position + len(line)  # where this line's newline is (== len(data) for the last line)
        position = newline + 1
        if not line.startswith(b"data:"):
            continue
        while index < last and ends[index] <= newline:
            index += 1
        events.append((chunks[index][0], line[5:].strip()))
    return events


class _Delta(msgspec.Struct, gc=False):
    content: Any = None
    reasoning: Any = None
    reasoning_content: Any = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    finish_reason: Any = None


class _Chunk(msgspec.Struct, gc=False):
    """The fields of a chunk the parse reads; every other field is skipped by the decoder, unbuilt.
    Not tracked by the garbage collector (``gc=False``: decoded JSON holds no cycles), so decoding
    hundreds of them does not set off collections that walk the whole heap."""

    choices: list[_Choice] | None = None
    usage: Any = None
    time_info: Any = None
    timings: Any = None
    service_tier: Any = None
    system_fingerprint: Any = None
    error: Any = msgspec.UNSET
    status_code: Any = None


_STREAM = msgspec.json.Decoder(list[_Chunk])


def _decoded(events: list[tuple[int, bytes]]) -> list[tuple[int, _Chunk | BadResponse | None]]:
    """Each payload up to ``[DONE]`` (``None``), decoded into the fields the parse reads.

    One decode of all payloads as a JSON array, in C, skipping unread fields: the bulk of the
    client's CPU per request went to building hundreds of dicts per response that nobody reads.
    Anything unusual (a payload that is not JSON, not an object, or of the wrong shape) sends the
    stream to the event-by-event path, which skips what is not a JSON object and turns a chunk of
    the wrong shape into a :class:`BadResponse` raised when the parse reaches it.
    """
    payloads: list[bytes] = []
    stamps: list[int] = []
    done: int | None = None
    for stamp, payload in events:
        if payload == b"[DONE]":
            done = stamp
            break
        payloads.append(payload)
        stamps.append(stamp)
    decoded: list[tuple[int, _Chunk | BadResponse | None]]
    try:
        decoded = list(zip(stamps, _STREAM.decode(b"[" + b",".join(payloads) + b"]"), strict=True))
    except msgspec.DecodeError:
        decoded = [(stamp, chunk) for stamp, payload in zip(stamps, payloads, strict=True) if (chunk := _one(payload))]
    if done is not None:
        decoded.append((done, None))
    return decoded


def _one(payload: bytes) -> _Chunk | BadResponse | None:
    """One payload on its own: None when it is not a JSON object (skipped, as SSE comments are)."""
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if "error" in event:
        return _Chunk(error=event["error"], status_code=event.get("status_code"))
    try:
        return msgspec.convert(event, _Chunk)
    except msgspec.ValidationError as exc:
        snippet = payload[:SERVER_MESSAGE_CHARS].decode("utf-8", "replace")
        return BadResponse(MALFORMED_RESPONSE, f"malformed chunk ({exc}): {snippet}")


def parse_stream(chunks: list[tuple[int, bytes]]) -> _Parsed:
    """Turn timestamped raw bytes into token arrival times, content, usage and ``time_info``."""
    return _parse_events(_events(chunks))


def _parse_events(events: list[tuple[int, bytes]]) -> _Parsed:
    parsed = _Parsed()
    for stamp, chunk in _decoded(events):
        if chunk is None:
            parsed.done_ns = stamp
            break
        if isinstance(chunk, BadResponse):
            raise chunk
        if chunk.error is not msgspec.UNSET:
            raise _stream_error(chunk.error, chunk.status_code)
        _take(parsed, chunk, stamp)
    return parsed


def _stream_error(error: Any, status: Any) -> StreamError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    return StreamError(
        status if isinstance(status, int) else None,
        str(error.get("message", "error event in stream")),
        str(error.get("code")) if error.get("code") is not None else None,
    )


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _take(parsed: _Parsed, chunk: _Chunk, stamp: int) -> None:
    """One chunk's tokens, usage and ``time_info``."""
    for choice in chunk.choices or ():
        delta = choice.delta
        if delta is not None:
            content = delta.content or ""
            # Cerebras streams thinking as ``reasoning``; llama.cpp, vLLM and SGLang as ``reasoning_content``
            reasoning = _is_text(delta.reasoning) or _is_text(delta.reasoning_content)
            if content or reasoning:
                if parsed.first_token_ns is None:
                    parsed.first_token_ns = stamp
                parsed.chunk_ns.append(stamp)
                parsed.content.append(content)
            if reasoning:
                parsed.reasoning_chunks += 1
                parsed.reasoning_field = parsed.reasoning_field or (
                    "reasoning" if _is_text(delta.reasoning) else "reasoning_content"
                )
            if content and parsed.first_content_ns is None:
                parsed.first_content_ns = stamp
        if choice.finish_reason:
            parsed.finish_reason = str(choice.finish_reason)
    if isinstance(chunk.service_tier, str):
        parsed.service_tier = chunk.service_tier
    if isinstance(chunk.system_fingerprint, str):
        parsed.system_fingerprint = chunk.system_fingerprint
    if chunk.usage:
        parsed.usage = chunk.usage
    if chunk.time_info:
        parsed.time_info = chunk.time_info
    if chunk.timings:  # llama.cpp's own figures (prompt_n, prompt_ms, predicted_n, ...)
        parsed.timings = chunk.timings


def _count(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    """A token count as sent, or None when absent; anything but a finite non-negative number is malformed."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BadResponse(MALFORMED_RESPONSE, f"{where}.{key} is {value!r}, not a token count")
    return int(value)


def _without_usage(parsed: _Parsed) -> Usage:
    """Counts when the stream carried no ``usage``: llama.cpp's ``timings`` hold the server's own
    (``predicted_n`` generated, ``prompt_n`` + ``cache_n`` prompt tokens, ``cache_n`` from its cache);
    otherwise content chunks are counted and the prompt stays unknown."""
    timings = parsed.timings if isinstance(parsed.timings, Mapping) else {}
    predicted = _count(timings, "predicted_n", "timings")
    reasoning = parsed.reasoning_chunks
    if predicted is None:
        count = len(parsed.chunk_ns)
        return Usage(None, count, None, reasoning_tokens=reasoning, reasoning_estimated=reasoning > 0, source="chunks")
    processed, cached = _count(timings, "prompt_n", "timings"), _count(timings, "cache_n", "timings")
    prompt = None if processed is None else processed + (cached or 0)
    return Usage(
        prompt,
        predicted,
        None if prompt is None else prompt + predicted,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        reasoning_estimated=reasoning > 0,
        source="timings",
    )


def _usage(parsed: _Parsed) -> Usage:
    raw = parsed.usage
    if raw is None:
        return _without_usage(parsed)
    if not isinstance(raw, Mapping):
        raise BadResponse(MALFORMED_RESPONSE, f"usage is {raw!r}, not an object")
    details = raw.get("prompt_tokens_details") or {}
    if not isinstance(details, Mapping):
        raise BadResponse(MALFORMED_RESPONSE, f"usage.prompt_tokens_details is {details!r}, not an object")
    completion_details = raw.get("completion_tokens_details")
    if completion_details is not None and not isinstance(completion_details, Mapping):
        raise BadResponse(
            MALFORMED_RESPONSE, f"usage.completion_tokens_details is {completion_details!r}, not an object"
        )
    if completion_details is not None and completion_details.get("reasoning_tokens") is not None:
        reasoning = _count(completion_details, "reasoning_tokens", "usage.completion_tokens_details")
        estimated = False
    else:  # no breakdown: count reasoning deltas (chunks, so an estimate when a chunk holds several tokens)
        reasoning, estimated = parsed.reasoning_chunks, parsed.reasoning_chunks > 0
    completion = _count(raw, "completion_tokens", "usage")
    cached = _count(details, "cached_tokens", "usage.prompt_tokens_details")
    if cached is None and isinstance(parsed.timings, Mapping):
        cached = _count(parsed.timings, "cache_n", "timings")
    return Usage(
        prompt_tokens=_count(raw, "prompt_tokens", "usage"),
        completion_tokens=len(parsed.chunk_ns) if completion is None else completion,
        total_tokens=_count(raw, "total_tokens", "usage"),
        cached_tokens=cached,
        source="chunks" if completion is None else "usage",
        reasoning_tokens=reasoning,
        reasoning_estimated=estimated,
        completion_tokens_details=dict(completion_details) if completion_details is not None else None,
    )


@dataclass(frozen=True)
class RawStream:
    """One response as it arrived: timestamped bytes, not yet parsed (see the module docstring)."""

    request_id: str
    handed_ns: int
    t0_ns: int
    end_ns: int
    chunks: list[tuple[int, bytes]]
    headers: Mapping[str, str]
    status: int = 200

    @property
    def size(self) -> int:
        return sum(len(chunk) for _, chunk in self.chunks)

    def ends_cleanly(self) -> bool:
        """``[DONE]`` last and no error event anywhere: then parsing can wait and cannot fail."""
        raw = b"".join(chunk for _, chunk in self.chunks)
        # ``in`` is a fast substring scan; the regex runs only on the rare response that names "error"
        return raw.rstrip().endswith(b"[DONE]") and (b'"error"' not in raw or _ERROR_KEY.search(raw) is None)

    def measurement(self) -> Measurement:
        """Parse; raises :class:`StreamError`, :class:`IncompleteStream` or :class:`BadResponse` for a
        failed attempt, and nothing else: a parse failure costs only this request."""
        try:
            return self._measurement()
        except (StreamError, IncompleteStream, BadResponse):
            raise
        except Exception as exc:  # a shape no check above foresaw: still only this request's failure
            raise BadResponse(MALFORMED_RESPONSE, f"cannot parse the response: {type(exc).__name__}: {exc}") from None

    def _measurement(self) -> Measurement:
        chunks = self.chunks
        if not chunks:
            raise IncompleteStream("the endpoint closed the stream without sending any event")
        events = _events(chunks)
        if not events:
            body = b"".join(chunk for _, chunk in chunks)
            raise BadResponse(
                NOT_A_STREAM, f"the answer is not an event stream: {server_message(body)}", status=self.status
            )
        parsed = _parse_events(events)
        if parsed.done_ns is None and parsed.usage is None:
            raise IncompleteStream(f"the stream ended after {len(parsed.chunk_ns)} content chunks without [DONE]")
        if parsed.first_token_ns is None:
            raise BadResponse(EMPTY_RESPONSE, "the stream ended without any content or reasoning token")
        usage = _usage(parsed)
        timing = Timing(
            t0_ns=self.t0_ns,
            first_event_ns=chunks[0][0],
            first_token_ns=parsed.first_token_ns,
            end_ns=parsed.done_ns if parsed.done_ns is not None else min(self.end_ns, chunks[-1][0]),
            chunk_ns=tuple(parsed.chunk_ns),
            first_content_ns=parsed.first_content_ns,
        )
        return Measurement(
            request_id=self.request_id,
            timing=timing,
            usage=usage,
            server=ServerTimes.from_time_info(parsed.time_info)
            if parsed.time_info is not None
            else ServerTimes.from_timings(parsed.timings),
            content="".join(parsed.content),
            response=ResponseInfo(
                parsed.service_tier, parsed.system_fingerprint, parsed.finish_reason, parsed.reasoning_field
            ),
        )


async def read_stream(
    client: AsyncCerebras,
    clock: RequestClock,
    *,
    model: str,
    request: Mapping[str, Any],
    timeout: float,
) -> RawStream:
    """Send one streaming chat completion and keep its timestamped bytes. SDK errors propagate for the
    retry policy, and so do stream errors: a stream that did not end cleanly is parsed at once. A
    response past ``MAX_RESPONSE_BYTES`` is cut: leaving the ``async with`` closes its connection."""
    request_id = uuid.uuid4().hex
    chunks: list[tuple[int, bytes]] = []
    append = chunks.append
    clock_ns = time.perf_counter_ns
    size = 0
    try:
        async with client.chat.completions.with_streaming_response.create(
            model=model,
            stream=True,
            extra_headers={REQUEST_ID_HEADER: request_id},
            timeout=timeout,
            stream_options=STREAM_OPTIONS,
            **request,
        ) as response:
            headers = dict(response.headers)
            status = response.status_code
            async for chunk in response.iter_bytes():
                append((clock_ns(), chunk))
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    chunks.clear()
                    raise BadResponse(
                        RESPONSE_TOO_LARGE,
                        f"the response passed {MAX_RESPONSE_BYTES // 2**20} MiB without ending: cut there, "
                        "connection closed",
                        status=status,
                    )
        end_ns = clock_ns()
    finally:
        stamps = clock.pop(request_id)
    if stamps is None:
        raise RuntimeError("the transport's request hook did not run: cannot time this request")
    raw = RawStream(request_id, stamps[0], stamps[1], end_ns, chunks, headers, status)
    if not raw.ends_cleanly():
        raw.measurement()
    return raw
