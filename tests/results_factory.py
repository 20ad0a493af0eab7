"""A realistic, schema-conforming results dict for the report and export tests.

The numbers follow the original Cerebras study (short/long input × short/long output at ~2,000
tok/s, tens of ms of network overhead) and degrade with concurrency the way a batching server
does, so the charts look like a real run. ``edge_cases`` adds what a report must survive: a
regression confirmed in stage 2, an improvement, an inconclusive stage 2, a missing baseline,
failed requests, a saturated client, markup in a scenario name and in a model output, and an
endpoint that reports no server times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_cerebras_perf.metrics import METRICS, sample_metric_from_json
from pytest_cerebras_perf.stats import summarize

SCHEMA = "cerebras-perf-results/1"
XSS_CONTENT = "<script>alert(1)</script>"
MARKUP_SCENARIO = "third_party_<b>endpoint</b>"
GATED = ("ttft", "e2e", "output_tps", "server_total")


@dataclass(frozen=True)
class Profile:
    """One prompt type's shape: token counts and the server's timings at concurrency 1."""

    name: str
    prompt_tokens: int
    completion_tokens: int
    prompt_time: float
    decode_tps: float
    prompt: str


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("short_input_short_output", 42, 130, 0.003, 2300.0, "What is AI?"),
        Profile(
            "short_input_long_output",
            58,
            1650,
            0.004,
            1750.0,
            "Write a long and meandering story about a space explorer discovering a new civilization.",
        ),
        Profile(
            "long_input_short_output",
            3050,
            90,
            0.095,
            1300.0,
            "A 4,000-word document about quantum computing ... Provide a one-paragraph executive summary.",
        ),
        Profile(
            "long_input_long_output",
            3120,
            1700,
            0.11,
            2200.0,
            "A 4,000-word document about quantum computing ... Explain how it might impact machine learning.",
        ),
    )
}
DEFAULT_SCENARIOS = tuple(PROFILES)


def make_results(
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    iterations: int = 10,
    concurrency: Sequence[int] = (1,),
    *,
    edge_cases: bool = True,
    target_kind: str = "emulator",
    partial: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Build a results dict as ``results.py`` writes it (JSON-compatible: only dicts, lists, scalars)."""
    rng = np.random.default_rng(seed)
    profiles = [PROFILES[name] for name in scenarios]
    entries: list[dict[str, Any]] = []
    for profile in profiles:
        for level in concurrency:
            entries.append(_scenario(rng, profile, level, iterations, server_reported=True))
    if edge_cases:
        _add_edge_cases(rng, entries, iterations)
    return {
        "schema": SCHEMA,
        "run": {
            "id": "20250301T164629-3f9a2c",
            "started": "2025-03-01T16:46:29+00:00",
            "finished": "2025-03-01T16:52:03+00:00",
            "partial": partial,
            "partial_reason": "daily token quota exhausted (429 token_quota_exceeded)" if partial else None,
            "plugin_version": "0.1.0",
            "sdk_version": "1.91.0",
            "python": "3.11.2",
            "commit": {
                "id": "4f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                "branch": "main",
                "dirty": False,
                "project": "pytest-cerebras-perf",
                "time": "2025-03-01T16:40:00+00:00",
            },
            "argv": ["pytest", "perf_tests", "-p", "cerebras_perf", "--iterations", str(iterations)],
        },
        "target": {
            "kind": target_kind,
            "base_url": "http://127.0.0.1:8765" if target_kind == "emulator" else "https://api.cerebras.ai",
            "model": "llama-3.3-70b",
            "emulator_profile": "default" if target_kind == "emulator" else None,
        },
        "settings": {
            "iterations": iterations,
            "warmup": 1,
            "concurrency": list(concurrency),
            "request_rate": None,
            "gate_metrics": list(GATED),
            "tolerance": 0.10,
            "alpha_suite": 0.01,
        },
        "scenarios": entries,
    }


def _scenario(
    rng: np.random.Generator, profile: Profile, level: int, iterations: int, *, server_reported: bool
) -> dict[str, Any]:
    # A batching server: per-request speed drops and queueing grows with concurrency.
    slowdown = 1.0 + 0.12 * (level - 1) ** 0.8
    samples = [_sample(rng, profile, slowdown, i, server_reported) for i in range(iterations)]
    ok = [s for s in samples if s["ok"]]
    window = sum(s["e2e"] for s in ok) / level if ok else 0.0
    completion = sum(s["usage"]["completion_tokens"] for s in ok)
    entry: dict[str, Any] = {
        "id": f"{profile.name}@c{level}",
        "name": profile.name,
        "concurrency": level,
        "nodeid": f"perf_tests/test_scenarios.py::test_latency[{profile.name}]",
        "prompt": f"[user] {profile.prompt}",
        "max_completion_tokens": 2048,
        "samples": samples,
        "aggregate": {
            "output_tps": completion / window if window else 0.0,
            "request_throughput": len(ok) / window if window else 0.0,
            "window": window,
            "error_rate": 0.0,
            "client_saturated": False,
            "client_lag": 0.0004 * level,
            "requests": len(samples),
            "ok": len(ok),
            "errors": 0,
        },
        "confirmation_samples": 0,
        "warnings": [],
    }
    entry["summary"] = _summaries(samples)
    baseline = {metric: _baseline_samples(rng, samples, metric) for metric in GATED}
    entry["baseline"] = {"runs": 3, "samples": {k: v for k, v in baseline.items() if v}}
    entry["gate"] = [_gate(entry, metric, "pass") for metric in GATED if baseline[metric]]
    return entry


def _sample(
    rng: np.random.Generator, profile: Profile, slowdown: float, index: int, server_reported: bool
) -> dict[str, Any]:
    noise = float(rng.lognormal(0.0, 0.08))
    completion_tokens = max(2, int(profile.completion_tokens * rng.uniform(0.85, 1.1)))
    queue = float(rng.exponential(0.002)) * slowdown
    prompt_time = profile.prompt_time * noise
    completion_time = completion_tokens / (profile.decode_tps / slowdown) * noise
    total = queue + prompt_time + completion_time
    network_in = 0.045 + float(rng.lognormal(math.log(0.02), 0.5))
    ttfb = network_in + queue * 0.5
    ttft = ttfb + queue * 0.5 + prompt_time + 0.004
    e2e = ttft + completion_time + float(rng.exponential(0.01))
    decode = e2e - ttft
    server = (
        {"queue_time": queue, "prompt_time": prompt_time, "completion_time": completion_time, "total_time": total}
        if server_reported
        else {"queue_time": None, "prompt_time": None, "completion_time": None, "total_time": None}
    )
    overhead = e2e - total if server_reported else None
    return {
        "ok": True,
        "error": None,
        "retries": 1 if index == 3 else 0,
        "request_id": f"req-{profile.name[:5]}-{index:04d}",
        "ttfb": ttfb,
        "ttft": ttft,
        "ttfo": ttft,  # a model that does not reason: its first token is its first output token
        "e2e": e2e,
        "decode_time": decode,
        "tpot": decode / (completion_tokens - 1),
        "output_tps": (completion_tokens - 1) / decode,
        "itl": [decode / 8] * 8,
        "latency_from_schedule": None,
        "server": server,
        "server_output_tps": completion_tokens / completion_time if server_reported else None,
        "network_overhead": overhead,
        "network_overhead_pct": None if overhead is None else overhead / total * 100.0,
        "usage": {
            "prompt_tokens": profile.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": profile.prompt_tokens + completion_tokens,
            "cached_tokens": 0,
            "counted_from_chunks": False,
            "reasoning_tokens": 0,
            "reasoning_estimated": False,
            "content_tokens": completion_tokens,
        },
        "content": f"Sample answer {index} for {profile.name}.",
    }


def _failed_sample(index: int) -> dict[str, Any]:
    server = {"queue_time": None, "prompt_time": None, "completion_time": None, "total_time": None}
    sample: dict[str, Any] = {key: None for key in ("ttfb", "ttft", "e2e", "decode_time", "tpot", "output_tps")}
    sample.update(
        ok=False,
        error={"kind": "rate_limit", "status": 429, "message": "Requests per minute limit exceeded"},
        retries=4,
        request_id=None,
        itl=[],
        latency_from_schedule=None,
        server=server,
        server_output_tps=None,
        network_overhead=None,
        network_overhead_pct=None,
        usage=None,
        content="",
    )
    return sample


def _values(samples: Sequence[dict[str, Any]], metric: str) -> list[float]:
    values = (sample_metric_from_json(s, metric) for s in samples)
    return [v for v in values if v is not None]


def _summaries(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for metric in METRICS:
        summary = summarize(_values(samples, metric))
        result[metric] = None if summary is None else summary.to_json()
    return result


def _baseline_samples(rng: np.random.Generator, samples: Sequence[dict[str, Any]], metric: str) -> list[float]:
    """Three earlier runs' worth of samples, drawn around this run's values with a little drift."""
    current = _values(samples, metric)
    if not current:
        return []
    pooled: list[float] = []
    for _ in range(3):
        drift = float(rng.lognormal(0.0, 0.03))
        pooled.extend(float(v) * drift * float(rng.lognormal(0.0, 0.05)) for v in current)
    return pooled


def _gate(entry: dict[str, Any], metric: str, verdict: str, stage2: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = METRICS[metric]
    current = float(np.median(_values(entry["samples"], metric)))
    baseline = float(np.median(entry["baseline"]["samples"][metric]))
    ratio = current / baseline
    bound = ratio * (1.07 if spec.higher_is_better else 0.93)
    decision: dict[str, Any] = {
        "metric": metric,
        "verdict": verdict,
        "baseline_p50": baseline,
        "current_p50": current,
        "ratio": ratio,
        "ratio_bound": bound,
        "tolerance": 0.10,
        "p_value": 0.31,
        "alpha": 0.05,
        "stage": 1,
        "mde": 0.14,
        "tau": 0.01,
        "tau_source": "prior",
        "n": len(entry["samples"]),
        "m": len(entry["baseline"]["samples"][metric]),
        "baseline_runs": 3,
        "higher_is_better": spec.higher_is_better,
        "note": "",
        "stage1": None,
    }
    if stage2 is not None:
        stage1 = dict(decision, verdict="regression", stage=1, p_value=0.012, alpha=0.05)
        decision.update(stage2, stage=2, stage1=stage1, alpha=0.01 / 16)
    return decision


def _shift(entry: dict[str, Any], metric: str, factor: float) -> None:
    """Make the baseline of ``metric`` differ from the current samples by ``factor``."""
    entry["baseline"]["samples"][metric] = [v / factor for v in entry["baseline"]["samples"][metric]]


def _replace_gate(entry: dict[str, Any], decision: dict[str, Any]) -> None:
    entry["gate"] = [decision if g["metric"] == decision["metric"] else g for g in entry["gate"]]


def _add_edge_cases(rng: np.random.Generator, entries: list[dict[str, Any]], iterations: int) -> None:
    first = entries[0]
    _shift(first, "ttft", 1.35)
    regression = _gate(first, "ttft", "regression", {"verdict": "regression", "p_value": 0.0004})
    regression["note"] = "confirmed by a second stage of 10 extra samples"
    _replace_gate(first, regression)
    first["confirmation_samples"] = iterations
    first["samples"][0]["content"] = XSS_CONTENT

    last = entries[-1]
    _shift(last, "output_tps", 1.25)
    improvement = _gate(last, "output_tps", "improvement")
    improvement.update(p_value=0.001, note="faster than the baseline; informational, never fails")
    _replace_gate(last, improvement)

    middle = entries[len(entries) // 2]
    _shift(middle, "e2e", 1.15)
    inconclusive = _gate(middle, "e2e", "inconclusive", {"verdict": "inconclusive", "p_value": 0.04})
    inconclusive["note"] = "stage 1 flagged a regression that stage 2 did not confirm"
    _replace_gate(middle, inconclusive)
    middle["aggregate"].update(client_saturated=True, client_lag=0.085)
    middle["warnings"] = ["baseline was recorded with max_completion_tokens 1024; compared with a warning"]
    failures = [_failed_sample(i) for i in range(2)]
    middle["samples"].extend(failures)
    middle["aggregate"].update(errors=2, requests=len(middle["samples"]), error_rate=2 / len(middle["samples"]))

    custom = _scenario(rng, PROFILES["short_input_short_output"], 1, iterations, server_reported=False)
    custom.update(
        id=f"{MARKUP_SCENARIO}@c1",
        name=MARKUP_SCENARIO,
        nodeid=f"perf_tests/test_scenarios.py::test_latency[{MARKUP_SCENARIO}]",
        baseline=None,
        gate=[
            {
                **_gate(custom, metric, "no-baseline"),
                "baseline_p50": None,
                "ratio": None,
                "ratio_bound": None,
                "p_value": None,
                "mde": None,
                "m": 0,
            }
            for metric in ("ttft", "e2e")
        ],
    )
    entries.append(custom)
