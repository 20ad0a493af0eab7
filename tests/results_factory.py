"""A realistic results document for the report and export tests, built by the plugin's own builders.

Requests are real :class:`~pytest_cerebras_perf.metrics.Sample` objects (timestamps, usage, server
times), gate decisions real :class:`~pytest_cerebras_perf.gate.Verdict` objects, baselines real
:class:`~pytest_cerebras_perf.baselines.ScenarioBaseline` objects, and the document comes out of
``results.build_results`` for a :class:`~pytest_cerebras_perf.session.PerfSession` holding them:
so what the report tests read is, key for key, what a run writes.

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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pytest_cerebras_perf.baselines import BaselineRun, ScenarioBaseline
from pytest_cerebras_perf.gate import Kind, Verdict
from pytest_cerebras_perf.load import LoadResult, aggregate
from pytest_cerebras_perf.metrics import METRICS, Sample, SampleError, ServerTimes, Timing, Usage, metric_values
from pytest_cerebras_perf.records import ScenarioRecord
from pytest_cerebras_perf.results import build_results
from pytest_cerebras_perf.results_doc import CommitDoc, ResultsDoc
from pytest_cerebras_perf.scenarios import Scenario
from pytest_cerebras_perf.session import PerfSession
from pytest_cerebras_perf.settings import RawValues, Secret, resolve
from pytest_cerebras_perf.target import Endpoint

XSS_CONTENT = "<script>alert(1)</script>"
MARKUP_SCENARIO = "third_party_<b>endpoint</b>"
GATED = ("ttft", "e2e", "output_tps", "server_total")
BASELINE_RUNS = 3
DEFAULTS = resolve(RawValues(lambda dest: None, lambda key: None, {}), root=Path("/project"), api_key=None)
MAX_CLIENT_LAG = DEFAULTS.max_client_lag
COMMIT: CommitDoc = {
    "id": "4f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
    "time": "2025-03-01T16:40:00+00:00",
    "author_time": "2025-03-01T16:40:00+00:00",
    "dirty": False,
    "project": "pytest-cerebras-perf",
    "branch": "main",
}


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
) -> ResultsDoc:
    """Build a results document as a run writes it (through ``results.build_results``)."""
    rng = np.random.default_rng(seed)
    records = [
        _record(rng, PROFILES[name], level, iterations, server_reported=True)
        for name in scenarios
        for level in concurrency
    ]
    if edge_cases:
        _add_edge_cases(rng, records, iterations)
    session = _session(iterations, concurrency, target_kind)
    session.records = records
    if partial:
        session.mark_partial("daily token quota exhausted (429 token_quota_exceeded)")
    argv = ["pytest", "perf_tests", "-p", "cerebras_perf", "--iterations", str(iterations)]
    return build_results(session, finished="2025-03-01T16:52:03+00:00", argv=argv)


def _session(iterations: int, concurrency: Sequence[int], target_kind: str) -> PerfSession:
    cli = {"iterations": str(iterations), "concurrency": ",".join(map(str, concurrency))}
    settings = resolve(RawValues(cli.get, lambda key: None, {}), root=Path("/project"), api_key=None)
    session = PerfSession(replace(settings, gate_metrics=GATED, baseline_runs=BASELINE_RUNS), root=Path("/project"))
    session.run_id = "20250301T164629-3f9a2c"
    session.started = "2025-03-01T16:46:29+00:00"
    session.commit = COMMIT
    session.model = "llama-3.3-70b"
    if target_kind == "emulator":
        session.endpoint = Endpoint("emulator", "http://127.0.0.1:8765", Secret("key"), "default")
    else:
        session.endpoint = Endpoint("cloud", "https://api.cerebras.ai", Secret("key"))
    return session


def _record(
    rng: np.random.Generator, profile: Profile, level: int, iterations: int, *, server_reported: bool, failed: int = 0
) -> ScenarioRecord:
    # A batching server: per-request speed drops and queueing grows with concurrency.
    slowdown = 1.0 + 0.12 * (level - 1) ** 0.8
    clocks = [0] * level  # each in-flight slot sends its next request when the last one ended
    samples = []
    for index in range(iterations):
        slot = index % level
        sample = _sample(rng, profile, slowdown, index, clocks[slot], server_reported)
        assert sample.timing is not None
        clocks[slot] = sample.timing.end_ns
        samples.append(sample)
    samples += [_failed_sample() for _ in range(failed)]
    result = LoadResult(samples=samples, loop_lag=[0.0004 * level])
    scenario = Scenario(
        name=profile.name,
        messages=({"role": "user", "content": profile.prompt},),
        source="results_factory",
        max_completion_tokens=2048,
    )
    record = ScenarioRecord(
        scenario,
        level,
        f"perf_tests/test_scenarios.py::test_latency[{profile.name}]",
        scenario.request_kwargs(),
        result,
        aggregate=aggregate(result, MAX_CLIENT_LAG),
    )
    record.baseline = _baseline(rng, samples, {})
    record.verdicts = _passes(record)
    return record


def _passes(record: ScenarioRecord) -> list[Verdict]:
    """A pass for every gated metric the endpoint reported."""
    return [_verdict(record, m, "pass") for m in GATED if metric_values(record.result.samples, m)]


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _sample(
    rng: np.random.Generator, profile: Profile, slowdown: float, index: int, t0_ns: int, server_reported: bool
) -> Sample:
    noise = float(rng.lognormal(0.0, 0.08))
    completion_tokens = max(2, int(profile.completion_tokens * rng.uniform(0.85, 1.1)))
    queue = float(rng.exponential(0.002)) * slowdown
    prompt_time = profile.prompt_time * noise
    completion_time = completion_tokens / (profile.decode_tps / slowdown) * noise
    network_in = 0.045 + float(rng.lognormal(math.log(0.02), 0.5))
    ttfb = network_in + queue * 0.5
    ttft = ttfb + queue * 0.5 + prompt_time + 0.004
    e2e = ttft + completion_time + float(rng.exponential(0.01))
    chunks = tuple(t0_ns + _ns(ttft + (e2e - ttft) * k / 8) for k in range(9))
    timing = Timing(
        t0_ns=t0_ns,
        first_event_ns=t0_ns + _ns(ttfb),
        first_token_ns=t0_ns + _ns(ttft),
        end_ns=t0_ns + _ns(e2e),
        chunk_ns=chunks,
        first_content_ns=t0_ns + _ns(ttft),  # a model that does not reason: its first token is output
    )
    server = (
        ServerTimes(queue, prompt_time, completion_time, queue + prompt_time + completion_time)
        if server_reported
        else ServerTimes()
    )
    return Sample(
        ok=True,
        retries=1 if index == 3 else 0,
        timing=timing,
        usage=Usage(
            prompt_tokens=profile.prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=profile.prompt_tokens + completion_tokens,
            reasoning_tokens=0,
        ),
        server=server,
        request_id=f"req-{profile.name[:5]}-{index:04d}",
        content=f"Sample answer {index} for {profile.name}.",
    )


def _failed_sample() -> Sample:
    return Sample(ok=False, retries=4, error=SampleError("rate_limit", 429, "Requests per minute limit exceeded"))


def _baseline(rng: np.random.Generator, samples: Sequence[Sample], shifts: dict[str, float]) -> ScenarioBaseline:
    """Earlier runs drawn around this run's values with a little drift; ``shifts`` divides a metric
    by a factor, so the current run differs from its baseline by that much."""
    runs = []
    for index in range(BASELINE_RUNS):
        drift = float(rng.lognormal(0.0, 0.03))
        values = {
            metric: [v * drift * float(rng.lognormal(0.0, 0.05)) / shifts.get(metric, 1.0) for v in current]
            for metric in METRICS
            if (current := metric_values(samples, metric))
        }
        runs.append(
            BaselineRun(
                run_id=f"2025022{index}T120000-000000",
                accepted=f"2025-02-2{index}T12:00:00+00:00",
                commit=None,
                iterations=len(samples),
                samples=values,
                error_rate=0.0,
            )
        )
    return ScenarioBaseline(runs=tuple(runs), tolerances={})


def _verdict(record: ScenarioRecord, metric: str, kind: Kind, *, stage2_p: float | None = None) -> Verdict:
    """A decision with the figures a gate would show: medians from the record's samples and baseline."""
    spec = METRICS[metric]
    current = float(np.median(metric_values(record.result.samples, metric)))
    stored = record.baseline.pooled_runs(metric, keep=BASELINE_RUNS) if record.baseline else []
    pooled = [x for run in stored for x in run]
    baseline = float(np.median(pooled)) if pooled else None
    ratio = None if baseline is None else current / baseline
    verdict = Verdict(
        metric=metric,
        verdict=kind,
        stage=1,
        baseline_p50=baseline,
        current_p50=current,
        ratio=ratio,
        ratio_bound=None if ratio is None else ratio * (1.07 if spec.higher_is_better else 0.93),
        tolerance=0.10,
        p_value=None if ratio is None else 0.31,
        mde=None if ratio is None else 0.14,
        tau=0.01,
        tau_source="prior",
        n=len(record.result.samples),
        m=len(pooled),
        higher_is_better=spec.higher_is_better,
        alpha=0.05,
        baseline_runs=BASELINE_RUNS,
    )
    if stage2_p is None:
        return verdict
    stage1 = replace(verdict, verdict="regression", p_value=0.012)
    return replace(verdict, stage=2, stage1=stage1, p_value=stage2_p, alpha=0.01 / 16)


def _shift(rng: np.random.Generator, record: ScenarioRecord, metric: str, factor: float) -> None:
    """Redraw the baseline so that ``metric`` differs from the current samples by ``factor``."""
    record.baseline = _baseline(rng, record.result.samples, {metric: factor})


def _decide(record: ScenarioRecord, verdict: Verdict) -> None:
    record.verdicts = [verdict if v.metric == verdict.metric else v for v in record.verdicts]


def _add_edge_cases(rng: np.random.Generator, records: list[ScenarioRecord], iterations: int) -> None:
    first = records[0]
    _shift(rng, first, "ttft", 1.35)
    first.verdicts = _passes(first)
    regression = _verdict(first, "ttft", "regression", stage2_p=0.0004)
    _decide(first, replace(regression, note="confirmed by a second stage of 10 extra samples"))
    first.confirmation_samples = iterations
    first.result.samples[0] = replace(first.result.samples[0], content=XSS_CONTENT)

    last = records[-1]
    _shift(rng, last, "output_tps", 1.25)
    last.verdicts = _passes(last)
    improvement = _verdict(last, "output_tps", "improvement")
    _decide(last, replace(improvement, p_value=0.001, note="faster than the baseline; informational, never fails"))

    index = len(records) // 2
    level = records[index].concurrency
    middle = _record(rng, PROFILES[records[index].scenario.name], level, iterations, server_reported=True, failed=2)
    middle.result.loop_lag[:] = [0.085]  # the client's event loop woke up late: saturated
    middle.aggregate = aggregate(middle.result, MAX_CLIENT_LAG)
    _shift(rng, middle, "e2e", 1.15)
    middle.verdicts = _passes(middle)
    inconclusive = _verdict(middle, "e2e", "inconclusive", stage2_p=0.04)
    _decide(middle, replace(inconclusive, note="stage 1 flagged a regression that stage 2 did not confirm"))
    middle.warnings = ["baseline was recorded with max_completion_tokens 1024; compared with a warning"]
    records[index] = middle

    custom = _record(rng, PROFILES["short_input_short_output"], 1, iterations, server_reported=False)
    custom.scenario = replace(custom.scenario, name=MARKUP_SCENARIO)
    custom.nodeid = f"perf_tests/test_scenarios.py::test_latency[{MARKUP_SCENARIO}]"
    custom.baseline = None
    custom.verdicts = [_verdict(custom, metric, "no-baseline") for metric in ("ttft", "e2e")]
    records.append(custom)
