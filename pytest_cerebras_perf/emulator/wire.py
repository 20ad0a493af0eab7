"""The bytes and JSON bodies the Cerebras API sends (shared/reference/cerebras-api.md).

Content chunks are rendered from a per-response template (identity fields fixed, only the text
varies) so the streaming hot path does string concatenation, not ``json.dumps`` per chunk. Every
chunk carries ``id``, ``created`` (int), ``model``, ``object`` and ``system_fingerprint``: without
them the SDK silently parses a chunk as another member of its union type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .ratelimit import LimitKind

DONE = b"data: [DONE]\n\n"
REASONING_EFFORTS = ("none", "low", "medium", "high")  # which of them a model accepts varies
SERVICE_TIERS = ("auto", "default", "flex", "priority")
Endpoint = Literal["chat", "text"]
Dialect = Literal["cerebras", "vllm", "llamacpp"]
DIALECTS: tuple[Dialect, ...] = ("cerebras", "vllm", "llamacpp")
"""How the emulator's streams look (profile field ``dialect``): the Cerebras API's (``usage`` and
``time_info`` in the final chunk, thinking in ``delta.reasoning``), vLLM's (no server times, ``usage``
only when ``stream_options.include_usage`` asks, in a chunk of its own with no choices, thinking in
``delta.reasoning_content``) or llama.cpp's ``llama-server`` (as vLLM, plus ``timings`` in the last
chunk). Which length fields each honours is in ``request_body.GenerationRequest.as_served_by``."""
REASONING_FIELD: dict[Dialect, str] = {
    "cerebras": "reasoning",
    "vllm": "reasoning_content",
    "llamacpp": "reasoning_content",
}

_ESCAPED: dict[str, bytes] = {}


def escape(piece: str) -> bytes:
    """JSON string escaping without quotes, as bytes, cached: output pieces repeat from a small vocabulary."""
    escaped = _ESCAPED.get(piece)
    if escaped is None:
        escaped = _ESCAPED[piece] = json.dumps(piece)[1:-1].encode()
    return escaped


def _event(payload: Mapping[str, object]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


@dataclass(frozen=True)
class Ending:
    """How a response ended, as its closing event or its body reports it. ``extra`` is the
    emulator's own report (``x_emulator``: it fell behind its schedule), sent in a stream only."""

    finish_reason: str
    usage: Mapping[str, object]
    time_info: Mapping[str, float]
    extra: Mapping[str, object]


@dataclass(frozen=True)
class ResponseIdentity:
    """The fields every chunk and body of one response repeats."""

    response_id: str
    created: int
    model: str
    system_fingerprint: str
    endpoint: Endpoint
    service_tier: str = "default"

    @property
    def chunk_object(self) -> str:
        return "chat.completion.chunk" if self.endpoint == "chat" else "text_completion"

    @property
    def body_object(self) -> str:
        return "chat.completion" if self.endpoint == "chat" else "text_completion"

    def _envelope(self, choice: Mapping[str, object], object_name: str) -> dict[str, object]:
        return {
            "id": self.response_id,
            "choices": [choice],
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.system_fingerprint,
            "object": object_name,
            "service_tier": self.service_tier,
        }

    def _finished(self, chat: Mapping[str, object], text: str, finish_reason: str) -> dict[str, object]:
        """The choice that ends a response: ``chat`` (a delta or a message) on the chat endpoint, the
        ``text`` on text completions, then ``finish_reason``."""
        return {**(chat if self.endpoint == "chat" else {"text": text}), "finish_reason": finish_reason, "index": 0}

    def malformed_chunk(self) -> bytes:
        """A chunk a buggy server sends (the ``malformed`` fault): right envelope, ``choices: [null]``."""
        return _event({**self._envelope({}, self.chunk_object), "choices": [None]})

    def role_frame(self) -> bytes | None:
        """Chat streams open with a role-only frame with empty content; text completions do not."""
        if self.endpoint != "chat":
            return None
        return _event(self._envelope({"delta": {"role": "assistant", "content": ""}, "index": 0}, self.chunk_object))

    def content_template(self, delta_field: str = "content") -> tuple[bytes, bytes]:
        """(head, tail) so that ``head + escaped_text + tail`` is one complete event; chat reasoning
        chunks use ``delta_field="reasoning"``."""
        marker = "\x00"
        choice = (
            {"delta": {delta_field: marker}, "index": 0} if self.endpoint == "chat" else {"text": marker, "index": 0}
        )
        rendered = _event(self._envelope(choice, self.chunk_object))
        head, _, tail = rendered.partition(json.dumps(marker)[1:-1].encode())
        return head, tail

    def closing_events(self, dialect: Dialect, ending: Ending, include_usage: bool) -> bytes:
        """The events that end a stream in ``dialect`` (see :data:`DIALECTS`), before ``[DONE]``: for
        the Cerebras API one event, with an empty delta, ``finish_reason`` and the only
        ``usage``/``time_info``."""
        closing = self._envelope(self._finished({"delta": {}}, "", ending.finish_reason), self.chunk_object)
        if dialect == "cerebras":
            return _event({**closing, "usage": ending.usage, "time_info": ending.time_info, **ending.extra})
        events: list[dict[str, object]] = [{**closing, **ending.extra}]
        if include_usage:
            events.append({**closing, "choices": [], "usage": ending.usage})
        if dialect == "llamacpp":
            events[-1]["timings"] = llamacpp_timings(ending.usage, ending.time_info)
        return b"".join(_event(event) for event in events)

    def body(self, text: str, ending: Ending, reasoning: str = "") -> dict[str, object]:
        """A non-streaming response body (chat reasoning goes in ``message.reasoning``)."""
        message: dict[str, object] = {"role": "assistant", "content": text}
        if reasoning:
            message["reasoning"] = reasoning
        choice = self._finished({"message": message}, text, ending.finish_reason)
        return {**self._envelope(choice, self.body_object), "usage": ending.usage, "time_info": ending.time_info}


def usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> dict[str, object]:
    """``completion_tokens`` includes the reasoning tokens, broken out in ``completion_tokens_details``."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def dialect_usage(
    dialect: Dialect, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int
) -> dict[str, object]:
    """``usage`` as each dialect sends it: vLLM without details, llama.cpp with cached tokens only."""
    full = usage(prompt_tokens, completion_tokens, reasoning_tokens)
    if dialect == "cerebras":
        return full
    kept: tuple[str, ...] = ("prompt_tokens", "completion_tokens", "total_tokens")
    if dialect == "llamacpp":
        kept += ("prompt_tokens_details",)
    return {key: full[key] for key in kept}


def llamacpp_timings(usage: Mapping[str, object], time_info: Mapping[str, float]) -> dict[str, object]:
    """llama.cpp's ``timings`` (milliseconds) from the same figures ``time_info`` reports."""
    return {
        "cache_n": 0,
        "prompt_n": usage["prompt_tokens"],
        "prompt_ms": time_info["prompt_time"] * 1000,
        "predicted_n": usage["completion_tokens"],
        "predicted_ms": time_info["completion_time"] * 1000,
    }


def error_body(message: str, error_type: str, param: str, code: str) -> dict[str, str]:
    """Cerebras error bodies are flat (not wrapped in ``"error"``), like its 429s."""
    return {"message": message, "type": error_type, "param": param, "code": code}


RATE_LIMIT_BODIES: dict[LimitKind, dict[str, str]] = {
    "rpm": error_body(
        "Requests per minute limit exceeded - too many requests sent.",
        "too_many_requests_error",
        "quota",
        "request_quota_exceeded",
    ),
    "rpd": error_body(
        "Requests per day limit exceeded - too many requests sent.",
        "too_many_requests_error",
        "quota",
        "request_quota_exceeded",
    ),
    "tpm": error_body(
        "Tokens per minute limit exceeded - too many tokens processed.",
        "too_many_requests_error",
        "quota",
        "token_quota_exceeded",
    ),
    "tpd": error_body(
        "Tokens per day limit exceeded - too many tokens processed.",
        "too_many_requests_error",
        "quota",
        "token_quota_exceeded",
    ),
}
WRONG_API_KEY = error_body("Wrong API Key", "invalid_request_error", "api_key", "wrong_api_key")
INTERNAL_ERROR = error_body("Internal server error", "server_error", "", "internal_server_error")
SERVICE_UNAVAILABLE = error_body(
    "Service temporarily unavailable, please retry", "server_error", "", "service_unavailable"
)


def model_not_found(model: str) -> dict[str, str]:
    return error_body(
        f"Model {model} does not exist or you do not have access to it.", "not_found_error", "model", "model_not_found"
    )


def bad_request(message: str, param: str) -> dict[str, str]:
    return error_body(message, "invalid_request_error", param, "bad_request")


def not_found(path: str) -> dict[str, str]:
    return error_body(f"No route for {path}", "not_found_error", "", "not_found")


def method_not_allowed(method: str, path: str) -> dict[str, str]:
    return error_body(f"Method {method} is not allowed for {path}", "invalid_request_error", "", "method_not_allowed")


def stream_error_event() -> bytes:
    """The error event the API sends inside an HTTP 200 stream; the SDK maps ``status_code`` to a class."""
    error = {"message": INTERNAL_ERROR["message"], "type": INTERNAL_ERROR["type"], "code": INTERNAL_ERROR["code"]}
    return _event({"error": error, "status_code": 500})
