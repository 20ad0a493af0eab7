"""Run a scenario's requests: warmup, then a closed loop of C in flight (or Poisson open loop).

One Python process reads every stream, stamps every chunk and builds every request on one event
loop, so anything that holds the loop delays the timestamps of all streams in flight. Measured on
the emulator at 16 streams x 2,000 tok/s (benchmarks/harness_fidelity.py), three things did, and
each is kept out of the measured window here:

- parsing a finished response (~4 ms of JSON for 256 tokens): responses are kept as raw bytes and
  parsed when the window ends (:class:`LoadResult`);
- building requests in the SDK (~1.4 ms each), which closed-loop slots do in bursts when their
  streams end together: one build at a time, and only after the loop has read what its sockets
  hold (:class:`BuildTurn`);
- full garbage collections (20-40 ms with the SDK loaded): objects alive when the window opens
  are frozen out of the collector.

The client also watches itself: if its event loop still stalls, or the endpoint sees fewer
requests in flight than asked for because they wait for the client, its figures describe the
client, not the endpoint, so the run is marked saturated (``aggregate.client.saturated``) and the gate leaves it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cerebras.cloud.sdk import APIStatusError

from .dialect import cold
from .measure import BadResponse, IncompleteStream, RawStream, RequestClock, StreamError, read_stream
from .metrics import Sample, SampleError
from .results_doc import Aggregate, ClientCheckDoc, Saturation
from .retry import (
    Breaker,
    BreakerOpen,
    DailyQuotaExceeded,
    Exhausted,
    Pacer,
    RetryPolicy,
    call_with_retries,
    classify,
)
from .settings import MIN_ACHIEVED_CONCURRENCY
from .stats import summarize
from .target import Endpoint, build_client

LAG_PROBE_INTERVAL = 0.005
# Raw response bytes a run may hold unparsed (a few hundred typical responses); beyond it the
# oldest are parsed during the window: memory wins over timing precision.
PARSE_BUDGET_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class LoadPlan:
    """How many requests, how many at once, and how they arrive."""

    iterations: int
    warmup: int
    concurrency: int
    request_rate: float | None = None
    seed: int = 0
    cold: bool = False  # every request with a unique first line (scenarios' ``prompt_cache: cold``)

    @property
    def requests(self) -> int:
        return self.iterations * self.concurrency


@dataclass(frozen=True)
class Outcome:
    """A finished request: its stream still unparsed, or the error that ended its retries."""

    retries: int
    scheduled_ns: int | None = None
    raw: RawStream | None = None
    error: SampleError | None = None
    turn_wait_ns: int = 0

    @property
    def dispatch_lag(self) -> float | None:
        """The pre-send wait: seconds the successful attempt waited for this client, not counting the
        SDK's own build: for its turn to build, then, built, for the loop to write it to the socket."""
        if self.raw is None:
            return None
        return (self.turn_wait_ns + self.raw.t0_ns - self.raw.handed_ns) / 1e9

    def sample(self) -> Sample:
        if self.raw is None:
            return Sample(ok=False, retries=self.retries, error=self.error, scheduled_ns=self.scheduled_ns)
        try:
            measurement = self.raw.measurement()
        except (StreamError, IncompleteStream, BadResponse) as exc:  # measurement() raises nothing else
            failure = classify(exc)
            error = SampleError(failure.kind, failure.status, failure.message)
            return Sample(ok=False, retries=self.retries, error=error, scheduled_ns=self.scheduled_ns)
        return Sample(
            ok=True,
            retries=self.retries,
            timing=measurement.timing,
            usage=measurement.usage,
            server=measurement.server,
            request_id=measurement.request_id,
            scheduled_ns=self.scheduled_ns,
            content=measurement.content,
            response=measurement.response,
        )


@dataclass
class LoadResult:
    """Measured samples (warmup excluded) and the client's view of its own health.

    Finished requests wait in ``unparsed`` while others still stream; :meth:`parse` turns them into
    samples when the window ends (also when it is interrupted).
    """

    samples: list[Sample] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    dispatch_lag: list[float] = field(default_factory=list)
    stopped: str | None = None
    cpu_seconds: float = 0.0
    unparsed: list[Outcome] = field(default_factory=list)
    unparsed_bytes: int = 0
    completed: int = 0  # requests finished so far, and how many of them failed: live progress
    failed: int = 0
    saturated_workers: list[str] = field(default_factory=list)  # client workers whose own self-check failed

    def add(self, outcome: Outcome, dispatch_lag: float | None) -> None:
        self.completed += 1
        self.failed += outcome.error is not None
        self.unparsed.append(outcome)
        if dispatch_lag is not None:
            self.dispatch_lag.append(dispatch_lag)
        self.unparsed_bytes += _size(outcome)
        while self.unparsed_bytes > PARSE_BUDGET_BYTES:
            oldest = self.unparsed.pop(0)
            self.unparsed_bytes -= _size(oldest)
            self.samples.append(oldest.sample())

    def parse(self) -> None:
        self.samples.extend(outcome.sample() for outcome in self.unparsed)
        self.unparsed.clear()
        self.unparsed_bytes = 0

    def merge(self, other: LoadResult) -> None:
        other.parse()
        self.samples.extend(other.samples)
        self.completed += other.completed
        self.failed += other.failed
        self.loop_lag.extend(other.loop_lag)
        self.dispatch_lag.extend(other.dispatch_lag)
        self.cpu_seconds += other.cpu_seconds
        self.stopped = self.stopped or other.stopped
        self.saturated_workers.extend(other.saturated_workers)


def _size(outcome: Outcome) -> int:
    return 0 if outcome.raw is None else outcome.raw.size


def achieved_concurrency(intervals: Sequence[tuple[int, int]], requested: int) -> float | None:
    """Requests in flight, time-averaged: the load the endpoint really saw.

    A request is in flight from its t0 (written to the socket) to the end of its stream. The window
    runs from the ``requested``-th send, when every slot has sent once, to the last send, after
    which nothing more is asked: the closing tail, where streams end one by one, is the plan
    running out, not the client falling behind. With too few sends for that window (one round),
    it is the whole run, first send to last end.
    """
    if not intervals:
        return None
    starts = sorted(start for start, _ in intervals)
    begin, end = (starts[requested - 1], starts[-1]) if len(starts) > requested else (starts[0], starts[-1])
    if end <= begin:
        begin, end = starts[0], max(stop for _, stop in intervals)
    if end <= begin:
        return None
    return sum(max(0, min(stop, end) - max(start, begin)) for start, stop in intervals) / (end - begin)


def aggregate(
    result: LoadResult,
    max_client_lag: float,
    *,
    requested: int | None = None,
    min_achieved: float = MIN_ACHIEVED_CONCURRENCY,
) -> Aggregate:
    """Window figures of docs/metrics.md (aggregate tokens/s, request throughput, error rate), the load
    the endpoint saw, and the client's self-check (:func:`_client_check`).

    ``requested`` is the closed loop's concurrency C (None in an open loop, where the rate sets the
    load).
    """
    timed = [s.timing for s in result.samples if s.ok and s.timing is not None]
    window = (max(t.end_ns for t in timed) - min(t.t0_ns for t in timed)) / 1e9 if timed else 0.0
    busy = sum(t.end_ns - t.t0_ns for t in timed) / 1e9
    ok = [s for s in result.samples if s.ok]
    tokens = sum(s.completion_tokens or 0 for s in ok)
    achieved = achieved_concurrency([(t.t0_ns, t.end_ns) for t in timed], requested or 1)
    requests = len(result.samples)
    return {
        "aggregate_output_tps": tokens / window if window > 0 else None,
        "request_throughput": len(ok) / window if window > 0 else None,
        "window": window,
        "mean_in_flight": busy / window if window > 0 else None,
        "requested_concurrency": requested,
        "achieved_concurrency": achieved,
        "error_rate": (requests - len(ok)) / requests if requests else 0.0,
        "requests": requests,
        "ok": len(ok),
        "errors": requests - len(ok),
        "retries": sum(s.retries for s in result.samples),
        "client": _client_check(
            result,
            max_client_lag,
            requested=requested,
            achieved=achieved,
            busy=busy,
            tokens=tokens,
            min_achieved=min_achieved,
        ),
    }


def _client_check(
    result: LoadResult,
    max_client_lag: float,
    *,
    requested: int | None,
    achieved: float | None,
    busy: float,
    tokens: int,
    min_achieved: float,
) -> ClientCheckDoc:
    """Do the run's figures still describe the endpoint? ``busy`` is the requests' summed time in
    flight (s), ``tokens`` their completion tokens. The client is saturated when:

    - its event loop wakes up more than ``max_client_lag`` late (p99), so chunks are stamped late
      (``saturation`` = ``event_loop``);
    - closed loop: the ``achieved`` concurrency is below ``min_achieved`` x ``requested`` while
      requests waited for the client to send them (pre-send wait p99 above ``max_client_lag``): the
      endpoint saw fewer requests than the run claims because of the client (``saturation`` =
      ``pre_send``). The wait must be material too: a fast endpoint answers in a few milliseconds,
      so at concurrency 1 the SDK's own build between two requests is a large share of the time
      with nothing in flight, which says nothing about the client;
    - open loop: requests spent more than ``1 - min_achieved`` of their lives waiting for the client
      (started late or queued before the socket), with the same materiality;
    - a client worker's own self-check failed (``saturated_workers``, judged in workers.py).
    """
    loop = summarize(result.loop_lag)
    pre_send = summarize(result.dispatch_lag)
    loop_p99 = loop.p99 if loop else 0.0
    pre_send_p99 = pre_send.p99 if pre_send else 0.0
    waited = sum(result.dispatch_lag)
    dispatch_share = waited / (waited + busy) if waited + busy > 0 else 0.0
    if requested is not None:
        short = achieved is not None and achieved < min_achieved * requested
    else:
        short = dispatch_share > 1 - min_achieved
    saturation: Saturation | None = (
        "event_loop"
        if loop_p99 > max_client_lag
        else "pre_send"
        if short and pre_send_p99 > max_client_lag
        else "worker"
        if result.saturated_workers
        else None
    )
    return {
        "saturated": saturation is not None,
        "saturation": saturation,
        "lag": max(loop_p99, pre_send_p99),
        "lag_max": max([0.0, *result.loop_lag, *result.dispatch_lag]),
        "loop_lag_p99": loop_p99,
        "pre_send_wait_p50": pre_send.p50 if pre_send else None,
        "pre_send_wait_p99": pre_send.p99 if pre_send else None,
        "dispatch_share": dispatch_share,
        "saturated_workers": list(result.saturated_workers),
        "cpu_seconds": result.cpu_seconds,
        "cpu_per_1k_tokens": 1000 * result.cpu_seconds / tokens if tokens else None,
    }


class BuildTurn:
    """One SDK request build at a time, each started only after the loop has read its sockets.

    The SDK holds the loop ~1.4 ms per request it builds. When closed-loop streams end together,
    their slots would build back to back while the last chunks of other streams wait unread, so
    those chunks are stamped late. A slot takes the turn, then yields twice: the first yield lets
    the loop poll its sockets (asyncio polls between rounds of ready callbacks), the second lets the
    reads that poll woke up run before the build. The request hook gives the turn back as soon as
    the SDK hands its request to the transport.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: object | None = None

    async def take(self) -> object:
        await self._lock.acquire()
        token = self._holder = object()
        try:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        except BaseException:
            self.give_back(token)
            raise
        return token

    def give_back(self, token: object | None = None) -> None:
        """Release the turn: whoever holds it (``None``, from the request hook) or only ``token``."""
        if self._lock.locked() and (token is None or token is self._holder):
            self._holder = None
            self._lock.release()


class Harness:
    """One process's SDK client, clock, pacer and retry policy, built once and warmed before timing."""

    def __init__(self, endpoint: Endpoint, *, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
        self.clock = RequestClock()
        self.turn = BuildTurn()
        self.client = build_client(
            endpoint,
            pool_size=pool_size,
            timeout=timeout,
            on_request=self._on_request,
            trace=self.clock.trace_config(),
        )
        self.pacer = Pacer(policy.rate_limit_max_wait)
        self.breaker = Breaker()
        self.policy = policy
        self.timeout = timeout

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_request(self, request: httpx.Request) -> None:
        await self.clock.on_request(request)
        self.turn.give_back()

    async def _read(self, model: str, request: Mapping[str, Any]) -> tuple[RawStream, int]:
        """One attempt and how long it waited for its turn to build."""
        asked = time.perf_counter_ns()
        token = await self.turn.take()
        waited = time.perf_counter_ns() - asked
        try:
            raw = await read_stream(self.client, self.clock, model=model, request=request, timeout=self.timeout)
        finally:
            self.turn.give_back(token)
        return raw, waited

    async def send(self, model: str, request: Mapping[str, Any], *, scheduled_ns: int | None = None) -> Outcome:
        """One request with its retries, its stream left unparsed; raises only on a daily quota."""
        reserve = reserved_tokens(request)

        async def attempt() -> tuple[RawStream, int]:
            # Every attempt asks the pacer (a retry is a request too); its sleep is before t0.
            await self.pacer.before_send(reserve)
            try:
                return await asyncio.wait_for(self._read(model, request), self.timeout)
            except APIStatusError as exc:
                self.pacer.observe(exc.response.headers)  # a 429 says best when there is room again
                raise

        try:
            (raw, waited), retries = await call_with_retries(attempt, self.policy, self.breaker)
        except Exhausted as exc:
            failure = exc.failure
            error = SampleError(failure.kind, failure.status, failure.message)
            return Outcome(retries=exc.retries, scheduled_ns=scheduled_ns, error=error)
        self.pacer.observe(raw.headers)
        return Outcome(retries=retries, scheduled_ns=scheduled_ns, raw=raw, turn_wait_ns=waited)

    async def request(self, model: str, request: Mapping[str, Any]) -> Sample:
        """One request parsed at once: warmup and single checks, where nothing else is timed."""
        return (await self.send(model, request)).sample()


def reserved_tokens(request: Mapping[str, Any]) -> int:
    """What the server books for a request: prompt tokens (about 4 characters each) + max completion."""
    characters = sum(len(str(m.get("content") or "")) for m in request.get("messages") or ())
    return characters // 4 + 16 + int(request.get("max_completion_tokens") or request.get("max_tokens") or 0)


async def _watch_loop(lags: list[float], stop: asyncio.Event) -> None:
    """Event-loop lag: how late a short sleep wakes up while requests stream."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_INTERVAL)
        lags.append(max(0.0, time.perf_counter() - start - LAG_PROBE_INTERVAL))


async def first_failure_cancels_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` until all end; the first to raise (a daily quota, an open
    breaker) cancels the others at once, and none is left pending, also when this is cancelled."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        await _cancel(tasks)
    _raise_first(tasks)


async def _cancel(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel whatever still runs and wait until it has: no task is left pending."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _raise_first(tasks: Sequence[asyncio.Future[None]]) -> None:
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def warm(harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan) -> None:
    """Open C connections and run ``warmup`` requests on each before any timing. A new scenario run
    starts here, with a closed breaker; warmup failures count towards it."""
    harness.breaker = Breaker()
    for _ in range(max(plan.warmup, 0)):
        if harness.breaker.reason is not None:
            return

        async def one() -> None:
            await harness.request(model, cold(request) if plan.cold else request)

        await first_failure_cancels_all(one() for _ in range(plan.concurrency))


def _check_breaker(harness: Harness) -> None:
    if harness.breaker.reason is not None:
        raise BreakerOpen(harness.breaker.reason)


async def run_measured(
    harness: Harness,
    model: str,
    request: Mapping[str, Any],
    plan: LoadPlan,
    result: LoadResult,
    *,
    start_at_ns: int | None = None,
) -> LoadResult:
    """Fill ``result`` as requests complete, so an interrupted run still has what it measured.

    ``result.cpu_seconds`` gets this process's CPU time from the first request to the last parse.
    """
    if start_at_ns is not None:
        delay = (start_at_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)

    async def body() -> None:
        if plan.request_rate is None:
            await _closed_loop(harness, model, request, plan, result)
        else:
            await _open_loop(harness, model, request, plan, result)

    await _window([result], [harness], body)
    return result


async def _window(
    results: Sequence[LoadResult], harnesses: Sequence[Harness], body: Callable[[], Awaitable[None]]
) -> None:
    """The measured window around ``body``: no garbage collection of older objects, the event loop
    watched, an open breaker or a quota marking every result stopped, every response parsed after."""
    gc.collect()
    gc.freeze()
    cpu_start = time.process_time()
    try:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_loop(results[0].loop_lag, stop))
        try:
            for harness in harnesses:
                _check_breaker(harness)  # the warmup already opened it: send nothing more
            await body()
        except BreakerOpen as exc:  # the samples stay; the run is marked stopped and the test says why
            for result in results:
                result.stopped = str(exc)
        except DailyQuotaExceeded as exc:
            for result in results:
                result.stopped = str(exc)
            raise
        finally:
            stop.set()
            await watcher
    finally:
        gc.unfreeze()
        for result in results:
            result.parse()
        for result in results[1:]:
            result.loop_lag = list(results[0].loop_lag)  # one event loop served them all
        cpu = (time.process_time() - cpu_start) / len(results)
        for result in results:
            result.cpu_seconds += cpu


@dataclass(frozen=True)
class Arm:
    """One side of an interleaved A/B run: who sends its requests, to which model, with what."""

    harness: Harness
    model: str
    request: Mapping[str, Any]


def block_orders(blocks: int, seed: int) -> list[bool]:
    """Which side goes first in each block (True: A), in randomized balanced pairs of blocks.

    Every two blocks are AB then BA or BA then AB (ABBA / BAAB, a coin per pair, reproducible by
    seed), so each side goes first equally often and a steady trend across a block pair hits both
    alike; the coin keeps a periodic disturbance from lining up with one side.
    """
    rng = random.Random(f"ab:{seed}")
    orders: list[bool] = []
    while len(orders) < blocks:
        first = rng.random() < 0.5
        orders += [first, not first]
    return orders[:blocks]


async def run_interleaved(
    a: Arm, b: Arm, plan: LoadPlan, results: tuple[LoadResult, LoadResult], pairs: list[tuple[int, int]]
) -> None:
    """``plan.iterations`` blocks per slot, each one A and one B request back to back (order from
    :func:`block_orders`, seeded per slot), on ``plan.concurrency`` closed-loop slots. ``pairs``
    gets (index of the A sample, index of the B sample) of each finished block, in the order the
    results hold them; a block cut short by a stop leaves its lone request unpaired.
    """
    result_a, result_b = results

    async def send(arm: Arm, result: LoadResult) -> int:
        outcome = await arm.harness.send(arm.model, arm.request)
        result.add(outcome, outcome.dispatch_lag)
        _check_breaker(arm.harness)
        return result.completed - 1

    async def slot(index: int) -> None:
        for a_first in block_orders(plan.iterations, plan.seed * 1009 + index):
            if a_first:
                first = await send(a, result_a)
                pairs.append((first, await send(b, result_b)))
            else:
                first = await send(b, result_b)
                pairs.append((await send(a, result_a), first))

    async def body() -> None:
        await first_failure_cancels_all(slot(index) for index in range(plan.concurrency))

    await _window([result_b, result_a], list({id(arm.harness): arm.harness for arm in (a, b)}.values()), body)


async def _closed_loop(
    harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan, result: LoadResult
) -> None:
    remaining = plan.requests

    async def slot() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            outcome = await harness.send(model, cold(request) if plan.cold else request)
            result.add(outcome, outcome.dispatch_lag)
            _check_breaker(harness)

    await first_failure_cancels_all(slot() for _ in range(plan.concurrency))


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
    stop = asyncio.Event()  # set by the first request that ends the run (quota, open breaker)
    tasks: list[asyncio.Future[None]] = []

    async def one(scheduled_ns: int) -> None:
        started_late = (time.perf_counter_ns() - scheduled_ns) / 1e9
        try:
            outcome = await harness.send(model, cold(request) if plan.cold else request, scheduled_ns=scheduled_ns)
            lag = outcome.dispatch_lag
            result.add(outcome, None if lag is None else started_late + lag)
            _check_breaker(harness)
        except BaseException:
            stop.set()
            raise

    async def arrivals() -> None:
        for offset in poisson_schedule(plan.request_rate or 0.0, plan.requests, plan.seed):
            scheduled = start + int(offset * 1e9)
            delay = (scheduled - time.perf_counter_ns()) / 1e9
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            tasks.append(asyncio.ensure_future(one(scheduled)))
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)

    try:
        await arrivals()
    finally:  # stopped early, or cancelled: no request task is left pending
        await _cancel(tasks)
    _raise_first(tasks)
