"""One measured request through the real SDK: timestamps in the hot path, parsing after.

``t0`` is taken in an httpx request hook, after the SDK has built the request, so the SDK's own
request building (~1.4 ms) is not counted as server latency. While the response streams, the hot
path only appends ``(perf_counter_ns(), bytes)``; SSE framing, JSON and token accounting happen
after the last byte, so a 2,000 tok/s stream is never slowed or skewed by our own parsing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cerebras.cloud.sdk import AsyncCerebras

from .metrics import ServerTimes, Timing, Usage

REQUEST_ID_HEADER = "x-perf-request-id"


class RequestClock:
    """Send times per request id, stamped by the transport's request hook (the t0 of metrics.md)."""

    def __init__(self) -> None:
        self._t0: dict[str, int] = {}

    async def on_request(self, request: httpx.Request) -> None:
        request_id = request.headers.get(REQUEST_ID_HEADER)
        if request_id is not None:
            self._t0[request_id] = time.perf_counter_ns()

    def pop(self, request_id: str) -> int | None:
        return self._t0.pop(request_id, None)


class StreamError(Exception):
    """An error event inside an HTTP 200 stream (``data: {"error": ...}``)."""

    def __init__(self, status: int | None, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class IncompleteStream(Exception):
    """The connection ended before ``[DONE]`` and before the final chunk with usage."""


@dataclass(frozen=True)
class Measurement:
    """What one successful attempt produced, still without any derived figure."""

    request_id: str
    timing: Timing
    usage: Usage
    server: ServerTimes
    content: str
    headers: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass
class _Parsed:
    first_token_ns: int | None = None
    done_ns: int | None = None
    chunk_ns: list[int] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    time_info: dict[str, Any] | None = None


def _events(chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Split raw bytes into SSE ``data:`` payloads, each stamped with the arrival of its last byte."""
    events: list[tuple[int, bytes]] = []
    buffer = b""
    for stamp, chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n")
        for line in complete:
            if line.startswith(b"data:"):
                events.append((stamp, line[5:].strip()))
    if buffer.startswith(b"data:") and chunks:
        events.append((chunks[-1][0], buffer[5:].strip()))
    return events


def parse_stream(chunks: list[tuple[int, bytes]]) -> _Parsed:
    """Turn timestamped raw bytes into token arrival times, content, usage and ``time_info``."""
    parsed = _Parsed()
    for stamp, payload in _events(chunks):
        if payload == b"[DONE]":
            parsed.done_ns = stamp
            break
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if "error" in event:
            error = event["error"] if isinstance(event["error"], dict) else {"message": str(event["error"])}
            status = event.get("status_code")
            raise StreamError(
                status if isinstance(status, int) else None,
                str(error.get("message", "error event in stream")),
                str(error.get("code")) if error.get("code") is not None else None,
            )
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {}
            text = (delta.get("content") or "") + (delta.get("reasoning") or "")
            if text:
                if parsed.first_token_ns is None:
                    parsed.first_token_ns = stamp
                parsed.chunk_ns.append(stamp)
                parsed.content.append(delta.get("content") or "")
        if event.get("usage"):
            parsed.usage = event["usage"]
        if event.get("time_info"):
            parsed.time_info = event["time_info"]
    return parsed


def _usage(parsed: _Parsed, warnings: list[str]) -> Usage:
    raw = parsed.usage
    if raw is None:
        warnings.append("the endpoint sent no usage: completion tokens counted from content chunks")
        count = len(parsed.chunk_ns)
        return Usage(0, count, count, counted_from_chunks=True)
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        total_tokens=int(raw.get("total_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


async def measure_stream(
    client: AsyncCerebras,
    clock: RequestClock,
    *,
    model: str,
    request: Mapping[str, Any],
    timeout: float,
) -> Measurement:
    """Send one streaming chat completion and time it. SDK errors propagate for the retry policy."""
    request_id = uuid.uuid4().hex
    chunks: list[tuple[int, bytes]] = []
    append = chunks.append
    clock_ns = time.perf_counter_ns
    try:
        async with client.chat.completions.with_streaming_response.create(
            model=model,
            stream=True,
            extra_headers={REQUEST_ID_HEADER: request_id},
            timeout=timeout,
            **request,
        ) as response:
            headers = dict(response.headers)
            async for chunk in response.iter_bytes():
                append((clock_ns(), chunk))
        end_ns = clock_ns()
    finally:
        t0_ns = clock.pop(request_id)
    parsed = parse_stream(chunks)
    if t0_ns is None:
        raise RuntimeError("the transport's request hook did not run: cannot time this request")
    if not chunks:
        raise IncompleteStream("the endpoint closed the stream without sending any event")
    if parsed.done_ns is None and parsed.usage is None:
        raise IncompleteStream(f"the stream ended after {len(parsed.chunk_ns)} content chunks without [DONE]")
    warnings: list[str] = []
    usage = _usage(parsed, warnings)
    timing = Timing(
        t0_ns=t0_ns,
        first_event_ns=chunks[0][0],
        first_token_ns=parsed.first_token_ns,
        end_ns=parsed.done_ns if parsed.done_ns is not None else min(end_ns, chunks[-1][0]),
        chunk_ns=tuple(parsed.chunk_ns),
    )
    return Measurement(
        request_id=request_id,
        timing=timing,
        usage=usage,
        server=ServerTimes.from_time_info(parsed.time_info),
        content="".join(parsed.content),
        headers=headers,
        warnings=tuple(warnings),
    )
