"""Run a scenario's requests: warmup, then a closed loop of C in flight (or Poisson open loop).

The client watches itself while it measures: if its event loop stalls or requests leave late,
its figures describe the client, not the endpoint, so the run is marked ``client_saturated`` and
the gate leaves it alone.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .measure import RequestClock, measure_stream
from .metrics import Sample, SampleError
from .retry import DailyQuotaExceeded, Exhausted, Pacer, RetryPolicy, call_with_retries
from .stats import summarize
from .target import Endpoint, build_client

LAG_PROBE_INTERVAL = 0.005


@dataclass(frozen=True)
class LoadPlan:
    """How many requests, how many at once, and how they arrive."""

    iterations: int
    warmup: int
    concurrency: int
    request_rate: float | None = None
    seed: int = 0

    @property
    def requests(self) -> int:
        return self.iterations * self.concurrency


@dataclass
class LoadResult:
    """Measured samples (warmup excluded) and the client's view of its own health."""

    samples: list[Sample] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    dispatch_lag: list[float] = field(default_factory=list)
    stopped: str | None = None

    def merge(self, other: LoadResult) -> None:
        self.samples.extend(other.samples)
        self.loop_lag.extend(other.loop_lag)
        self.dispatch_lag.extend(other.dispatch_lag)
        self.stopped = self.stopped or other.stopped


def aggregate(result: LoadResult, max_client_lag: float) -> dict[str, Any]:
    """Window figures of metrics.md: aggregate tokens/s, request throughput, error rate, client lag."""
    timed = [s.timing for s in result.samples if s.ok and s.timing is not None]
    window = (max(t.end_ns for t in timed) - min(t.t0_ns for t in timed)) / 1e9 if timed else 0.0
    ok = [s for s in result.samples if s.ok]
    tokens = sum(s.completion_tokens or 0 for s in ok)
    loop = summarize(result.loop_lag)
    dispatch = summarize(result.dispatch_lag)
    loop_p99 = loop.p99 if loop else 0.0
    dispatch_p99 = dispatch.p99 if dispatch else 0.0
    requests = len(result.samples)
    return {
        "output_tps": tokens / window if window > 0 else None,
        "request_throughput": len(ok) / window if window > 0 else None,
        "window": window,
        "error_rate": (requests - len(ok)) / requests if requests else 0.0,
        "requests": requests,
        "ok": len(ok),
        "errors": requests - len(ok),
        "retries": sum(s.retries for s in result.samples),
        "client_lag": max(loop_p99, dispatch_p99),
        "client_lag_max": max([0.0, *result.loop_lag, *result.dispatch_lag]),
        "loop_lag_p99": loop_p99,
        "dispatch_lag_p99": dispatch_p99,
        "client_saturated": max(loop_p99, dispatch_p99) > max_client_lag,
    }


class Harness:
    """One process's SDK client, clock, pacer and retry policy, built once and warmed before timing."""

    def __init__(self, endpoint: Endpoint, *, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
        self.clock = RequestClock()
        self.client = build_client(endpoint, pool_size=pool_size, timeout=timeout, on_request=self.clock.on_request)
        self.pacer = Pacer()
        self.policy = policy
        self.timeout = timeout

    async def close(self) -> None:
        await self.client.close()

    async def request(
        self, model: str, request: Mapping[str, Any], *, scheduled_ns: int | None = None
    ) -> tuple[Sample, float]:
        """One sample (ok or error) and its dispatch lag; raises only on a daily quota."""
        reserve = int(request.get("max_completion_tokens") or 0) + 1000
        await self.pacer.before_send(reserve)
        dispatched: list[int] = []

        async def attempt() -> Any:
            dispatched.append(time.perf_counter_ns())
            return await asyncio.wait_for(
                measure_stream(self.client, self.clock, model=model, request=request, timeout=self.timeout),
                self.timeout,
            )

        try:
            measurement, retries = await call_with_retries(attempt, self.policy)
        except Exhausted as exc:
            failure = exc.failure
            error = SampleError(failure.kind, failure.status, failure.message)
            return Sample(ok=False, retries=exc.retries, error=error, scheduled_ns=scheduled_ns), 0.0
        except DailyQuotaExceeded:
            raise
        self.pacer.observe(measurement.headers)
        sample = Sample(
            ok=True,
            retries=retries,
            timing=measurement.timing,
            usage=measurement.usage,
            server=measurement.server,
            request_id=measurement.request_id,
            scheduled_ns=scheduled_ns,
            content=measurement.content,
        )
        lag = (measurement.timing.t0_ns - dispatched[-1]) / 1e9
        return sample, lag


async def _watch_loop(lags: list[float], stop: asyncio.Event) -> None:
    """Event-loop lag: how late a short sleep wakes up while requests stream."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_INTERVAL)
        lags.append(max(0.0, time.perf_counter() - start - LAG_PROBE_INTERVAL))


async def warm(harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan) -> None:
    """Open C connections and run ``warmup`` requests on each before any timing."""
    if plan.warmup <= 0:
        return
    for _ in range(plan.warmup):
        await asyncio.gather(*(harness.request(model, request) for _ in range(plan.concurrency)))


async def run_measured(
    harness: Harness,
    model: str,
    request: Mapping[str, Any],
    plan: LoadPlan,
    result: LoadResult,
    *,
    start_at_ns: int | None = None,
) -> LoadResult:
    """Fill ``result`` as samples complete, so an interrupted run still has what it measured."""
    if start_at_ns is not None:
        delay = (start_at_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_loop(result.loop_lag, stop))
    try:
        if plan.request_rate is None:
            await _closed_loop(harness, model, request, plan, result)
        else:
            await _open_loop(harness, model, request, plan, result)
    except DailyQuotaExceeded as exc:
        result.stopped = str(exc)
        raise
    finally:
        stop.set()
        await watcher
    return result


async def _closed_loop(
    harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan, result: LoadResult
) -> None:
    remaining = plan.requests

    async def slot() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            sample, lag = await harness.request(model, request)
            result.samples.append(sample)
            result.dispatch_lag.append(lag)

    await asyncio.gather(*(slot() for _ in range(plan.concurrency)))


def poisson_schedule(rate: float, count: int, seed: int) -> list[float]:
    """Send offsets (s) of ``count`` Poisson arrivals at ``rate`` per second, reproducible by seed."""
    rng = random.Random(seed)
    offsets: list[float] = []
    now = 0.0
    for _ in range(count):
        now += rng.expovariate(rate)
        offsets.append(now)
    return offsets


async def _open_loop(
    harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan, result: LoadResult
) -> None:
    """Requests leave at their scheduled times whatever is in flight; lateness is recorded, not hidden."""
    assert plan.request_rate is not None
    start = time.perf_counter_ns()
    tasks: list[asyncio.Task[None]] = []

    async def one(scheduled_ns: int) -> None:
        sample, _ = await harness.request(model, request, scheduled_ns=scheduled_ns)
        result.samples.append(sample)
        if sample.timing is not None:
            result.dispatch_lag.append((sample.timing.t0_ns - scheduled_ns) / 1e9)

    for offset in poisson_schedule(plan.request_rate, plan.requests, plan.seed):
        scheduled = start + int(offset * 1e9)
        delay = (scheduled - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
