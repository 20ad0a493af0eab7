"""Every per-request figure, defined once (docs/metrics.md).

Data is in seconds and tokens/s; milliseconds exist only in display code. A metric the endpoint
did not report is ``None``, never 0, so a missing ``time_info`` cannot pass for a fast server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .results_doc import ErrorDoc, ResponseDoc, SampleDoc

Unit = Literal["s", "tok/s", "%", "tokens"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is called, how it is shown, which direction is worse, and how it may be gated.

    ``gateable``: ``--perf-gate-metrics`` accepts it (a metric whose change means something about
    the endpoint, not a token count the prompt decides). ``abs_floor``: the smallest change in the
    metric's unit that is material, whatever the relative tolerance (the gate takes the larger).
    20 ms is about one network hiccup on a shared CI runner (scheduling, one extra round trip): a
    change below it on client-side timings is not actionable even when it is 10 % of a fast
    request. Server-side times exclude the network, so their floor is the 5 ms of scheduling
    granularity. Per-token times and throughputs are ratios by nature and get no floor.
    """

    name: str
    label: str
    unit: Unit
    higher_is_better: bool = False
    signed: bool = False  # a difference of two clocks' figures: may be below zero
    gateable: bool = False
    abs_floor: float = 0.0


PLAUSIBLE_LIMIT: dict[Unit, float] = {"s": 86_400.0, "tok/s": 1e15, "%": 1e15, "tokens": 1e15}
"""The largest magnitude a figure of each unit can have: no request lasts a day, and nothing else
comes near 1e15. Beyond it a number is corrupt (a buggy server's 1e308), never a measurement."""


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("ttfb", "time to first byte", "s", gateable=True, abs_floor=0.020),
        MetricSpec("ttft", "time to first token", "s", gateable=True, abs_floor=0.020),
        MetricSpec("ttfo", "time to first output (content) token", "s", gateable=True, abs_floor=0.020),
        MetricSpec("e2e", "end-to-end latency", "s", gateable=True, abs_floor=0.020),
        MetricSpec("decode_time", "decode time (e2e - ttft)", "s", abs_floor=0.020),
        MetricSpec("tpot", "time per output token", "s", gateable=True),
        MetricSpec(
            "output_tps", "client tokens/s (reasoning + content)", "tok/s", higher_is_better=True, gateable=True
        ),
        MetricSpec("server_queue", "server queue time", "s", abs_floor=0.005),
        MetricSpec("server_prompt", "server prompt time", "s", abs_floor=0.005),
        MetricSpec("server_completion", "server completion time", "s", abs_floor=0.005),
        MetricSpec("server_total", "server total time", "s", gateable=True, abs_floor=0.005),
        MetricSpec("server_output_tps", "server output tokens/s", "tok/s", higher_is_better=True, gateable=True),
        MetricSpec(
            "network_overhead",
            "network overhead (e2e - server total)",
            "s",
            signed=True,
            gateable=True,
            abs_floor=0.020,
        ),
        MetricSpec("network_overhead_pct", "network overhead % of server time", "%", signed=True),
        MetricSpec("prompt_tokens", "prompt tokens", "tokens"),
        MetricSpec("completion_tokens", "completion tokens", "tokens"),
        MetricSpec("reasoning_tokens", "reasoning tokens", "tokens"),
        MetricSpec("content_tokens", "content tokens", "tokens"),
    )
}

SERVER_FIELDS: dict[str, str] = {
    "server_queue": "queue_time",
    "server_prompt": "prompt_time",
    "server_completion": "completion_time",
    "server_total": "total_time",
}


@dataclass(frozen=True)
class SampleError:
    """Why a request failed after retries were exhausted (or was not retryable)."""

    kind: str
    status: int | None
    message: str

    def to_json(self) -> ErrorDoc:
        return {"kind": self.kind, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class Timing:
    """Raw client timestamps of one successful attempt (``perf_counter_ns``), nothing derived."""

    t0_ns: int
    first_event_ns: int
    first_token_ns: int | None
    end_ns: int
    chunk_ns: tuple[int, ...] = ()
    first_content_ns: int | None = None


TokenSource = Literal["usage", "timings", "chunks"]
"""Where a response's completion count came from: the endpoint's ``usage``, llama.cpp's ``timings``
(``predicted_n``, the server's own count), or counting content chunks (one token per chunk assumed,
which undercounts when a chunk holds several tokens or none)."""


@dataclass(frozen=True)
class Usage:
    """Token counts as the endpoint reported them; a count it did not report is ``None``, never 0
    (a prompt of 0 tokens would read as a cache hit or a bug, not as "not reported")."""

    prompt_tokens: int | None
    completion_tokens: int
    total_tokens: int | None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    reasoning_estimated: bool = False
    completion_tokens_details: Mapping[str, Any] | None = None
    source: TokenSource = "usage"

    @property
    def counted_from_chunks(self) -> bool:
        return self.source == "chunks"


@dataclass(frozen=True)
class ResponseInfo:
    """What the endpoint said about how it served the request: a new ``system_fingerprint`` means
    a new model build, so it is recorded per sample and compared within and between runs."""

    service_tier: str | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    reasoning_field: str | None = None  # ``reasoning`` (Cerebras) or ``reasoning_content`` (llama.cpp, vLLM, SGLang)

    def to_json(self) -> ResponseDoc:
        return {
            "service_tier": self.service_tier,
            "system_fingerprint": self.system_fingerprint,
            "finish_reason": self.finish_reason,
            "reasoning_field": self.reasoning_field,
        }


@dataclass(frozen=True)
class ServerTimes:
    """``time_info`` as the endpoint reported it; fields it did not send stay ``None``.

    ``rejected`` names the fields it sent that are no measurement (NaN, infinite, negative, over
    ``PLAUSIBLE_LIMIT``, not a number): they count as not reported, and the results say so.
    """

    queue_time: float | None = None
    prompt_time: float | None = None
    completion_time: float | None = None
    total_time: float | None = None
    rejected: tuple[str, ...] = ()
    source: Literal["time_info", "timings"] | None = None

    @classmethod
    def from_time_info(cls, info: Any) -> ServerTimes:
        if not isinstance(info, Mapping):
            return cls()
        return cls._checked({key: info.get(key) for key in SERVER_FIELDS.values()}, "time_info")

    @classmethod
    def from_timings(cls, timings: Any) -> ServerTimes:
        """llama.cpp's ``timings`` (milliseconds): ``prompt_ms`` is the prompt time, ``predicted_ms``
        the completion time, their sum the server's total (llama.cpp reports no queue time)."""
        if not isinstance(timings, Mapping):
            return cls()
        prompt, predicted = timings.get("prompt_ms"), timings.get("predicted_ms")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (prompt, predicted))
        return cls._checked(
            {
                "prompt_time": _milliseconds(prompt),
                "completion_time": _milliseconds(predicted),
                "total_time": _milliseconds(prompt + predicted) if numbers else None,  # type: ignore[operator]
            },
            "timings",
        )

    @classmethod
    def _checked(cls, sent: Mapping[str, Any], source: Literal["time_info", "timings"]) -> ServerTimes:
        values: dict[str, float] = {}
        rejected: list[str] = []
        for key, value in sent.items():
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not 0 <= value <= PLAUSIBLE_LIMIT["s"]
            ):
                rejected.append(key)
            else:
                values[key] = float(value)
        return cls(**values, rejected=tuple(rejected), source=source)


def _milliseconds(value: Any) -> Any:
    """Seconds from a millisecond figure; anything else passes through for ``_checked`` to reject."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1000.0
    return value


def rejected_server_times(samples: Sequence[Sample]) -> str | None:
    """One warning line when responses carried unusable ``time_info`` values, else None."""
    hit = [s for s in samples if s.server.rejected]
    if not hit:
        return None
    fields = sorted({name for s in hit for name in s.server.rejected})
    return (
        f"{len(hit)} of {len(samples)} responses sent unusable time_info ({', '.join(fields)}: NaN, infinite, "
        "negative or over a day): those server times are not reported"
    )


def _seconds(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1e9


@dataclass(frozen=True)
class Sample:
    """One request's outcome. Failed requests keep their error and retry count, never a latency."""

    ok: bool
    retries: int = 0
    error: SampleError | None = None
    timing: Timing | None = None
    usage: Usage | None = None
    server: ServerTimes = field(default_factory=ServerTimes)
    request_id: str | None = None
    scheduled_ns: int | None = None
    content: str = ""
    response: ResponseInfo = field(default_factory=ResponseInfo)

    # -- client timings -------------------------------------------------------------------
    @property
    def ttfb(self) -> float | None:
        t = self.timing
        return None if t is None else _seconds(t.t0_ns, t.first_event_ns)

    @property
    def ttft(self) -> float | None:
        t = self.timing
        if t is None or t.first_token_ns is None:
            return None
        return _seconds(t.t0_ns, t.first_token_ns)

    @property
    def ttfo(self) -> float | None:
        """First non-reasoning content token (AIPerf's TTFO); equals ``ttft`` for a model that does not reason."""
        t = self.timing
        if t is None or t.first_content_ns is None:
            return None
        return _seconds(t.t0_ns, t.first_content_ns)

    @property
    def e2e(self) -> float | None:
        t = self.timing
        return None if t is None else _seconds(t.t0_ns, t.end_ns)

    @property
    def decode_time(self) -> float | None:
        ttft, e2e = self.ttft, self.e2e
        return None if ttft is None or e2e is None else e2e - ttft

    @property
    def tpot(self) -> float | None:
        decode, tokens = self.decode_time, self.completion_tokens
        if decode is None or tokens is None or tokens <= 1 or decode <= 0:
            return None  # all tokens in one read: no decode interval was observed
        return decode / (tokens - 1)

    @property
    def output_tps(self) -> float | None:
        """Per-token speed over every generated token, reasoning and content: ``ttft`` is the first of
        either kind and ``completion_tokens`` counts both."""
        decode, tokens = self.decode_time, self.completion_tokens
        if decode is None or tokens is None or tokens <= 1 or decode <= 0:
            return None
        return (tokens - 1) / decode

    @property
    def itl(self) -> list[float]:
        """Gaps between content-chunk arrivals: per CHUNK, not per token."""
        t = self.timing
        if t is None:
            return []
        return [(b - a) / 1e9 for a, b in zip(t.chunk_ns, t.chunk_ns[1:], strict=False)]

    @property
    def latency_from_schedule(self) -> float | None:
        """Open-loop e2e counted from the scheduled send time, so client queueing shows."""
        t = self.timing
        if t is None or self.scheduled_ns is None:
            return None
        return _seconds(self.scheduled_ns, t.end_ns)

    # -- server timings -------------------------------------------------------------------
    @property
    def server_queue(self) -> float | None:
        return self.server.queue_time

    @property
    def server_prompt(self) -> float | None:
        return self.server.prompt_time

    @property
    def server_completion(self) -> float | None:
        return self.server.completion_time

    @property
    def server_total(self) -> float | None:
        return self.server.total_time

    @property
    def server_output_tps(self) -> float | None:
        completion, tokens = self.server.completion_time, self.completion_tokens
        if completion is None or tokens is None or completion <= 0:
            return None
        return tokens / completion

    @property
    def network_overhead(self) -> float | None:
        e2e, total = self.e2e, self.server.total_time
        return None if e2e is None or total is None else e2e - total

    @property
    def network_overhead_pct(self) -> float | None:
        overhead, total = self.network_overhead, self.server.total_time
        if overhead is None or total is None or total <= 0:
            return None
        return overhead / total * 100.0

    # -- tokens ---------------------------------------------------------------------------
    @property
    def prompt_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.prompt_tokens

    @property
    def completion_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.completion_tokens

    @property
    def reasoning_tokens(self) -> int | None:
        """From ``usage.completion_tokens_details``; else counted reasoning deltas (``reasoning_estimated``)."""
        return None if self.usage is None else self.usage.reasoning_tokens

    @property
    def content_tokens(self) -> int | None:
        completion, reasoning = self.completion_tokens, self.reasoning_tokens
        return None if completion is None else completion - (reasoning or 0)

    def value(self, metric: str) -> float | None:
        """The named metric of :data:`METRICS` for this sample (None when undefined or failed)."""
        if metric not in METRICS:
            raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if not self.ok:
            return None
        raw = getattr(self, metric)
        return None if raw is None else float(raw)

    def to_json(self) -> SampleDoc:
        """The sample as docs/results-format.md specifies it (:class:`~.results_doc.SampleDoc`)."""
        usage = self.usage
        return {
            "ok": self.ok,
            "error": None if self.error is None else self.error.to_json(),
            "retries": self.retries,
            "request_id": self.request_id,
            "ttfb": self.ttfb,
            "ttft": self.ttft,
            "ttfo": self.ttfo,
            "e2e": self.e2e,
            "decode_time": self.decode_time,
            "tpot": self.tpot,
            "output_tps": self.output_tps,
            "itl": self.itl,
            "latency_from_schedule": self.latency_from_schedule,
            "server": {
                "queue_time": self.server.queue_time,
                "prompt_time": self.server.prompt_time,
                "completion_time": self.server.completion_time,
                "total_time": self.server.total_time,
                "rejected": list(self.server.rejected),
                "source": self.server.source,
            },
            "server_output_tps": self.server_output_tps,
            "network_overhead": self.network_overhead,
            "network_overhead_pct": self.network_overhead_pct,
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "cached_tokens": usage.cached_tokens,
                "counted_from_chunks": usage.counted_from_chunks,
                "source": usage.source,
                "reasoning_tokens": usage.reasoning_tokens,
                "reasoning_estimated": usage.reasoning_estimated,
                "content_tokens": self.content_tokens,
                "completion_tokens_details": None
                if usage.completion_tokens_details is None
                else dict(usage.completion_tokens_details),
            },
            "response": self.response.to_json(),
            "content": self.content,
        }


def metric_values(samples: Sequence[Sample], metric: str) -> list[float]:
    """The defined values of one metric over successful samples (None values are dropped)."""
    values = (s.value(metric) for s in samples)
    return [v for v in values if v is not None]


_USAGE_METRICS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "content_tokens")


def sample_metric_from_json(sample: SampleDoc, metric: str) -> float | None:
    """Read one metric back from a results-file sample (for the report and offline tools)."""
    if not sample["ok"]:
        return None
    raw: object
    if metric in SERVER_FIELDS:
        raw = dict(sample["server"]).get(SERVER_FIELDS[metric])
    elif metric in _USAGE_METRICS:
        raw = dict(sample["usage"] or {}).get(metric)
    else:
        raw = dict(sample).get(metric)
    return float(raw) if isinstance(raw, (int, float)) else None
