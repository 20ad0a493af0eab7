"""Reading a generation request body and deciding how long the answer is.

Output length follows the API's knobs: ``max_completion_tokens`` (or the deprecated ``max_tokens``)
caps it, ``min_completion_tokens`` / ``min_tokens`` forces it up, and otherwise the profile's
``default_output_tokens`` is what the "model" would say after its reasoning tokens (which count
in the completion, so the cap can cut the answer short or leave no room for it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from .text import count_tokens, prompt_tokens
from .wire import SERVICE_TIERS, Dialect, Endpoint


class BadRequest(ValueError):
    """The body cannot be served; ``param`` names the offending field for the 400 body."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    stream: bool
    prompt_tokens: int
    max_tokens: int | None
    min_tokens: int | None
    seed: int | None
    prompt_digest: str
    prompt_text: str  # what slowdown rules match: the text prompt, or the messages as JSON
    reasoning_effort: str | None = None
    service_tier: str | None = None
    disable_reasoning: bool = False
    min_field: str | None = None  # the field the minimum came in: min_completion_tokens or min_tokens
    ignore_eos: bool = False
    include_usage: bool = False  # stream_options.include_usage

    def as_served_by(self, dialect: Dialect) -> GenerationRequest:
        """The request as a server of ``dialect`` reads it: vLLM honours ``min_tokens`` and
        ``ignore_eos``, llama.cpp only ``ignore_eos`` (no minimum at all); ``ignore_eos`` runs the
        answer to its maximum."""
        if dialect == "cerebras":
            return self
        minimum = self.min_tokens if dialect == "vllm" and self.min_field == "min_tokens" else None
        if self.ignore_eos and self.max_tokens is not None:
            minimum = self.max_tokens
        return dataclasses.replace(self, min_tokens=minimum)

    def output_plan(self, default_output_tokens: int, reasoning_tokens: int = 0) -> tuple[int, int, str]:
        """(reasoning tokens, completion tokens including them, finish_reason): "length" when the cap
        cut the answer short."""
        wanted = max(reasoning_tokens + default_output_tokens, self.min_tokens or 0)
        if self.max_tokens is not None and wanted >= self.max_tokens:
            return min(reasoning_tokens, self.max_tokens), self.max_tokens, "length"
        return reasoning_tokens, wanted, "stop"

    def text_seed(self, profile_seed: int) -> str:
        """What fixes the output text: the same seed and prompt always give the same answer."""
        seed = profile_seed if self.seed is None else self.seed
        return f"{seed}|{self.model}|{self.prompt_digest}"


def _optional_count(body: Mapping[str, object], *names: str, minimum: int) -> int | None:
    return _named_count(body, *names, minimum=minimum)[0]


def _named_count(body: Mapping[str, object], *names: str, minimum: int) -> tuple[int | None, str | None]:
    """The first of ``names`` present in ``body`` and its name."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BadRequest(f"'{name}' must be an integer >= {minimum}", name)
        return value, name
    return None, None


def _optional_choice(body: Mapping[str, object], name: str, choices: tuple[str, ...] | None) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        expected = "a string" if choices is None else "one of " + ", ".join(choices)
        raise BadRequest(f"'{name}' must be {expected}", name)
    return value


def _messages(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, Mapping) for m in messages):
        raise BadRequest("'messages' must be a non-empty list of message objects", "messages")
    return messages


def parse_generation(raw: bytes, endpoint: Endpoint) -> GenerationRequest:
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}", "body") from error
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required", "model")
    if endpoint == "chat":
        messages = _messages(body)
        tokens = prompt_tokens(messages)
        prompt_material = json.dumps(messages, sort_keys=True)
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequest("'prompt' must be a string", "prompt")
        tokens = count_tokens(prompt)
        prompt_material = prompt
    max_tokens = _optional_count(body, "max_completion_tokens", "max_tokens", minimum=1)
    min_tokens, min_field = _named_count(body, "min_completion_tokens", "min_tokens", minimum=0)
    stream_options = body.get("stream_options")
    if max_tokens is not None and min_tokens is not None and min_tokens > max_tokens:
        raise BadRequest("'min_completion_tokens' must not exceed 'max_completion_tokens'", "min_completion_tokens")
    seed = _optional_count(body, "seed", minimum=-(2**63))
    disable_reasoning = body.get("disable_reasoning", False)
    if not isinstance(disable_reasoning, bool):
        raise BadRequest("'disable_reasoning' must be true or false", "disable_reasoning")
    return GenerationRequest(
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=tokens,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        seed=seed,
        prompt_digest=hashlib.sha256(prompt_material.encode()).hexdigest()[:16],
        prompt_text=prompt_material,
        reasoning_effort=_optional_choice(body, "reasoning_effort", None),
        service_tier=_optional_choice(body, "service_tier", SERVICE_TIERS),
        disable_reasoning=disable_reasoning,
        min_field=min_field,
        ignore_eos=body.get("ignore_eos") is True,
        include_usage=isinstance(stream_options, Mapping) and stream_options.get("include_usage") is True,
    )
