"""What an OpenAI-compatible endpoint understands and reports, and what follows for the figures.

"OpenAI-compatible" servers differ where it matters for measuring: the Cerebras API streams
``usage`` and ``time_info`` unasked; vLLM, SGLang and llama.cpp send ``usage`` only when asked
(``stream_options``, always asked, see measure.py), llama.cpp adds its own ``timings``, and
llama-cpp-python sends no usage at all. The output-length fields differ too: Cerebras reads
``max_completion_tokens`` / ``min_completion_tokens``, llama-cpp-python only ``max_tokens`` /
``min_tokens``, and llama.cpp has no minimum but ``ignore_eos``. This module turns a scenario's pinned
length into the fields the target honours (``--perf-length-fields``), checks the lengths that came
back, and names the dialect the responses showed and what they left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .metrics import Sample

LENGTH_FIELDS = ("max_completion_tokens", "max_tokens", "min_completion_tokens", "min_tokens", "ignore_eos")
AUTO_LENGTH_FIELDS: dict[str, tuple[str, ...]] = {
    "cloud": ("max_completion_tokens", "min_completion_tokens"),
    "emulator": ("max_completion_tokens", "min_completion_tokens"),
    "custom": ("max_completion_tokens", "max_tokens", "min_tokens"),
}
"""``--perf-length-fields auto``: what each kind of target is sent. A custom endpoint gets both
maximum fields (every server reads one of them) and ``min_tokens`` (vLLM, SGLang, llama-cpp-python);
llama.cpp's ``llama-server`` needs ``ignore_eos`` instead, which only the setting turns on, because
it changes what "stop" means (generation runs to the maximum)."""
LENGTH_HINT = (
    "set --perf-length-fields to what the server honours (llama.cpp: max_tokens,ignore_eos; "
    "vLLM, SGLang, llama-cpp-python: max_tokens,min_tokens)"
)


def length_fields(setting: Sequence[str] | None, endpoint_kind: str) -> tuple[str, ...]:
    """The fields a pinned length is sent in: the setting's, or the target kind's default."""
    return tuple(setting) if setting else AUTO_LENGTH_FIELDS[endpoint_kind]


def pin_length(request: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``request`` (as a scenario builds it, with ``max_/min_completion_tokens``) with its output
    length in ``fields``; ``ignore_eos`` goes in the body only when the scenario sets a minimum."""
    sent = dict(request)
    maximum = sent.pop("max_completion_tokens", None)
    minimum = sent.pop("min_completion_tokens", None)
    if maximum is not None:
        sent.update({name: maximum for name in ("max_completion_tokens", "max_tokens") if name in fields})
    if minimum is not None:
        sent.update({name: minimum for name in ("min_completion_tokens", "min_tokens") if name in fields})
        if "ignore_eos" in fields:
            sent["extra_body"] = {**(sent.get("extra_body") or {}), "ignore_eos": True}
    return sent


def cold(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request with a unique first line (``prompt_cache: cold``): a server's prefix cache
    (llama.cpp, vLLM, SGLang) then finds nothing to reuse, so the prompt is processed in full."""
    messages = [dict(m) for m in request["messages"]]
    messages[0]["content"] = f"[{uuid.uuid4().hex}]\n{messages[0]['content']}"
    return {**request, "messages": messages}


def length_mismatch(
    samples: Sequence[Sample], minimum: int | None, maximum: int | None, fields: Sequence[str]
) -> str | None:
    """One line when responses were not of the scenario's length: shorter than its minimum (the
    server ignored it) or longer than its maximum (the server ignored the cap); else None."""
    measured = [s for s in samples if s.ok and s.completion_tokens is not None]
    off = [
        s
        for s in measured
        if (minimum is not None and (s.completion_tokens or 0) < minimum)
        or (maximum is not None and (s.completion_tokens or 0) > maximum)
    ]
    if not off:
        return None
    counts = sorted(s.completion_tokens or 0 for s in off)
    reasons = sorted({s.response.finish_reason or "none" for s in off})
    pinned = f"{minimum}..{maximum}" if minimum != maximum else str(minimum)
    chunks = off[0].usage is not None and off[0].usage.counted_from_chunks
    counted = " (counted from chunks: the endpoint sent no token counts)" if chunks else ""
    return (
        f"{len(off)} of {len(measured)} responses were not of the scenario's length {pinned} tokens: "
        f"{counts[0]}..{counts[-1]} tokens{counted}, finish_reason {', '.join(reasons)}; length-dependent "
        f"metrics are not gated; sent {', '.join(fields) or 'no length field'}: {LENGTH_HINT}"
    )


def token_count_warnings(samples: Sequence[Sample]) -> list[str]:
    """Warnings about counts the endpoint did not report (the figures built on them are estimates)."""
    measured = [s for s in samples if s.ok and s.usage is not None]
    chunks = [s for s in measured if s.usage is not None and s.usage.counted_from_chunks]
    warnings = []
    if chunks:
        warnings.append(
            f"{len(chunks)} of {len(measured)} responses sent no token counts (no usage, no timings): "
            "completion tokens counted from content chunks, one token per chunk assumed, prompt tokens unknown"
        )
    return warnings


def cache_warning(samples: Sequence[Sample], is_cold: bool) -> str | None:
    """One line when the server answered prompts from its cache while the scenario meant them warm."""
    hits = [s for s in samples if s.ok and s.usage is not None and (s.usage.cached_tokens or 0) > 0]
    if not hits or is_cold:
        return None
    shares = sorted((s.usage.cached_tokens or 0) / max(s.usage.prompt_tokens or 1, 1) for s in hits if s.usage)
    return (
        f"{len(hits)} of {len([s for s in samples if s.ok])} responses were served partly from the server's "
        f"prompt cache (median {shares[len(shares) // 2]:.0%} of prompt tokens cached): TTFT measures cache hits; "
        "add 'prompt_cache: cold' to the scenario to measure uncached prompts"
    )


def describe(samples: Sequence[Sample]) -> str | None:
    """``llama.cpp (usage on request, timings); missing: server queue time, ...``: the dialect the
    responses showed and what they left out; None before any response succeeded."""
    measured = [s for s in samples if s.ok and s.usage is not None]
    if not measured:
        return None
    sources = {s.server.source for s in measured} - {None}
    token_sources = {s.usage.source for s in measured if s.usage is not None}
    reasoning = sorted({field for s in measured if (field := s.response.reasoning_field) is not None})
    if "time_info" in sources:
        name = "Cerebras (usage, time_info)"
    elif "timings" in sources:
        name = "llama.cpp (usage on request, timings)" if "usage" in token_sources else "llama.cpp (timings)"
    elif "usage" in token_sources:
        name = "OpenAI-compatible (usage, no server times: vLLM/SGLang-like)"
    else:
        name = "OpenAI-compatible without usage (llama-cpp-python-like)"
    if reasoning:
        name += f", thinking in delta.{'/'.join(reasoning)}"
    missing = []
    if not sources:
        missing.append("server times")
    elif all(s.server.queue_time is None for s in measured):
        missing.append("server queue time")
    if "chunks" in token_sources:
        missing.append("token counts (counted from chunks)")
    if any(s.usage is not None and s.usage.prompt_tokens is None for s in measured):
        missing.append("prompt tokens")
    if all(s.usage is None or s.usage.cached_tokens is None for s in measured):
        missing.append("cached tokens")
    if reasoning and any(s.usage is not None and s.usage.reasoning_estimated for s in measured):
        missing.append("reasoning token counts (counted from chunks)")
    return name + (f"; missing: {', '.join(missing)}" if missing else "; nothing missing")
