"""Client processes for loads one Python process cannot drive without skewing its own timings.

One asyncio process parsing thousands of chunks per second holds the GIL long enough to delay
other streams' timestamps (a documented bias of single-process benchmark clients). Each worker
here has its own interpreter, event loop, SDK client and connection pool; the parent splits the
in-flight slots between them and starts their measured windows at one shared instant.
``perf_counter_ns`` is CLOCK_MONOTONIC on Linux, shared by all processes, so the merged window and
aggregate throughput are computed on one clock.

Nothing measured is lost and nothing is sent for nobody: each worker streams every finished
request to the parent as it completes (so Ctrl-C or SIGTERM keeps every completed sample), obeys
the parent's ``cancel`` at once (a daily quota or an open breaker in one worker stops all of them),
and dies with its parent (``PR_SET_PDEATHSIG``, and a closed pipe ends whatever it is doing).

The parent's side, :class:`ClientPool`, does not know where its workers run: it talks to them
through :class:`Links` (local processes over pipes here, Ray actors in ``ray_pool.py``), with one
message protocol. A worker that dies mid-run keeps what it sent (:class:`WorkerLost`), later runs
go to the others, and each worker's self-check is judged on its own figures: a saturated worker
marks the whole run saturated (``aggregate.client.saturated``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Collection, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, cast

from .load import Harness, LoadPlan, LoadResult, Outcome, aggregate, run_measured, warm
from .redact import redact
from .retry import DailyQuotaExceeded, RetryPolicy
from .target import Endpoint

START_MARGIN_NS = 200_000_000
# How long an interrupted parent waits for its workers' last samples before it stops them.
DRAIN_TIMEOUT_S = 5.0


def split(total: int, parts: int) -> list[int]:
    """``total`` slots over ``parts`` workers as evenly as possible; workers with 0 slots stay idle."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass
class _Forwarded(LoadResult):
    """A worker's result: each finished request goes to the parent at once instead of staying here."""

    conn: Connection | None = None

    def add(self, outcome: Outcome, dispatch_lag: float | None) -> None:
        assert self.conn is not None
        self.conn.send(("outcome", (outcome, dispatch_lag)))


class _ParentGone(Exception):
    """The parent closed the pipe: it died or was killed; send nothing more."""


def _serve(
    conn: Connection, endpoint: Endpoint, pool_size: int, timeout: float, policy: RetryPolicy, parent: int
) -> None:
    """A client process's main: dies with ``parent`` and leaves Ctrl-C to it, then :func:`serve`."""
    if sys.platform.startswith("linux"):
        from .emulator.process import die_with_parent

        die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent too: it says when to stop
    serve(conn, endpoint, pool_size, timeout, policy)


def serve(conn: Connection, endpoint: Endpoint, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
    """Run the commands that arrive on ``conn`` (warm, measure, cancel, stop) until ``stop`` or EOF,
    on an event loop and SDK client of this thread's own."""
    loop = asyncio.new_event_loop()

    async def build() -> Harness:
        return Harness(endpoint, pool_size=pool_size, timeout=timeout, policy=policy)

    harness = loop.run_until_complete(build())
    try:
        while True:
            try:
                command, args = conn.recv()
            except (EOFError, OSError):
                return
            if command == "stop":
                return
            if command == "cancel":  # arrived after this worker had already finished
                continue
            try:
                conn.send(_run(loop, harness, conn, command, args))
            except _ParentGone:
                return
            except Exception as exc:  # reported to the parent, which raises it with the worker's name
                conn.send(("error", redact(f"{type(exc).__name__}: {exc}")))
    finally:
        loop.run_until_complete(harness.close())
        loop.close()


def _until_told(loop: asyncio.AbstractEventLoop, conn: Connection, work: Coroutine[Any, Any, Any]) -> bool:
    """Run ``work`` while listening to the parent: ``cancel`` or ``stop`` cancels it; a closed pipe
    cancels it and raises :class:`_ParentGone`. True if it ran to its end."""
    task = loop.create_task(work)
    gone = False

    def on_message() -> None:
        nonlocal gone
        try:
            command, _ = conn.recv()
        except (EOFError, OSError):
            command, gone = "stop", True
            loop.remove_reader(conn.fileno())
        if command in ("cancel", "stop"):
            task.cancel()

    loop.add_reader(conn.fileno(), on_message)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(conn.fileno())
    if gone:
        raise _ParentGone
    return not task.cancelled()


def _run(
    loop: asyncio.AbstractEventLoop, harness: Harness, conn: Connection, command: str, args: dict[str, Any]
) -> tuple[str, Any]:
    model, request, plan = args["model"], args["request"], args["plan"]
    if command == "warm":
        _until_told(loop, conn, warm(harness, model, request, plan))
        return "ok", None
    result = _Forwarded(conn=conn)
    try:
        finished = _until_told(
            loop, conn, run_measured(harness, model, request, plan, result, start_at_ns=args["start_at_ns"])
        )
    except DailyQuotaExceeded as exc:
        return "quota", (redact(str(exc)), _summary(result))
    if not finished:
        result.stopped = result.stopped or "cancelled"
    return "ok", _summary(result)


def _summary(result: LoadResult) -> LoadResult:
    """What is left to send once every finished request went out: the client's health figures."""
    return LoadResult(loop_lag=result.loop_lag, cpu_seconds=result.cpu_seconds, stopped=result.stopped)


class WorkerLost(Exception):
    """A client worker died mid-run (its process, its Ray actor or its node): what it sent is kept,
    the run is partial; the message (one line, redacted) says which worker and how much was kept."""


class Links(Protocol):
    """How a :class:`ClientPool` reaches its workers: commands out, their messages back, in order per
    worker. A worker that died answers ``("lost", why)``."""

    start_margin_ns: int

    def __len__(self) -> int: ...

    def name(self, index: int) -> str: ...

    def send(self, index: int, command: str, args: Any) -> None: ...

    def receive(self, pending: Collection[int], timeout: float | None) -> list[tuple[int, tuple[str, Any]]]: ...

    def close(self) -> None: ...


class PipeLinks:
    """Links to client processes of this machine, over pipes."""

    start_margin_ns = START_MARGIN_NS

    def __init__(
        self, endpoint: Endpoint, *, workers: int, pool_size: int, timeout: float, policy: RetryPolicy
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for index in range(workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(child, endpoint, pool_size, timeout, policy, os.getpid()),
                name=f"cerebras-perf-worker-{index}",
                daemon=True,
            )
            process.start()
            child.close()  # only the worker holds its end: the worker sees EOF when this process dies
            self._conns.append(parent)
            self._procs.append(process)

    def __len__(self) -> int:
        return len(self._conns)

    def name(self, index: int) -> str:
        return f"client process {index}"

    def send(self, index: int, command: str, args: Any) -> None:
        with contextlib.suppress(OSError):  # a dead worker answers "lost" in receive()
            self._conns[index].send((command, args))

    def receive(self, pending: Collection[int], timeout: float | None) -> list[tuple[int, tuple[str, Any]]]:
        index_of = {self._conns[i]: i for i in pending}
        messages: list[tuple[int, tuple[str, Any]]] = []
        for conn in cast(list[Connection], wait(list(index_of), timeout)):
            try:
                messages.append((index_of[conn], conn.recv()))
            except (EOFError, OSError):
                messages.append((index_of[conn], ("lost", "the process died")))
        return messages

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send(("stop", None))
        for process in self._procs:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []


@dataclass
class _Tally:
    """One worker's part of one run: how many requests it finished, its self-check figures, and the
    ids of its successful requests (to judge its self-check on its own samples)."""

    completed: int = 0
    loop_lag: list[float] = field(default_factory=list)
    dispatch_lag: list[float] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome, dispatch_lag: float | None) -> None:
        self.completed += 1
        if dispatch_lag is not None:
            self.dispatch_lag.append(dispatch_lag)
        if outcome.raw is not None:
            self.request_ids.add(outcome.raw.request_id)


class ClientPool:
    """Long-lived client workers, each warmed once per scenario like the single-process harness;
    where they run is up to their :class:`Links`."""

    def __init__(self, links: Links, *, max_client_lag: float, min_achieved: float) -> None:
        self._links = links
        self._alive = [True] * len(links)
        self._max_client_lag = max_client_lag
        self._min_achieved = min_achieved
        self._tallies: dict[int, _Tally] = {}

    @property
    def alive(self) -> int:
        return sum(self._alive)

    def completed(self) -> dict[int, int]:
        """Requests each worker has finished in the current (or last) command, as they stream in."""
        return {i: tally.completed for i, tally in self._tallies.items()}

    def _each(
        self, command: str, args_for: list[dict[str, Any] | None], result: LoadResult | None = None
    ) -> list[tuple[str, Any]]:
        """Send ``command`` to the workers that have a share and collect their replies, adding the
        requests they stream to ``result`` as they arrive. A worker that stops early (quota, breaker,
        death) makes the others cancel; an interruption here cancels them all and keeps what they sent."""
        pending = {i for i, args in enumerate(args_for) if args}
        self._tallies = {i: _Tally() for i in pending}
        for i in pending:
            self._links.send(i, command, args_for[i])
        replies: dict[int, tuple[str, Any]] = {}
        try:
            self._collect(pending, replies, result, deadline=None)
        except BaseException:
            self._cancel(pending)
            with contextlib.suppress(Exception):
                self._collect(pending, replies, result, deadline=time.monotonic() + DRAIN_TIMEOUT_S)
            raise
        lost = sorted(i for i, (status, _) in replies.items() if status == "lost")
        for i in lost:
            self._alive[i] = False
        if lost:
            raise WorkerLost(
                "; ".join(
                    f"{self._links.name(i)} was lost mid-run ({replies[i][1]}): "
                    f"its {self._tallies[i].completed} completed requests are kept"
                    for i in lost
                )
                + f"; later runs use the {self.alive} other client worker(s)"
            )
        for i, (status, payload) in sorted(replies.items()):
            if status == "error":
                raise RuntimeError(f"{self._links.name(i)} failed: {payload}")
        return [replies[i] for i in sorted(replies)]

    def _collect(
        self,
        pending: set[int],
        replies: dict[int, tuple[str, Any]],
        result: LoadResult | None,
        deadline: float | None,
    ) -> None:
        while pending:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            messages = self._links.receive(pending, timeout)
            if not messages:
                return
            for i, (status, payload) in messages:
                if i not in pending:
                    continue
                if status == "outcome":
                    self._tallies[i].add(*payload)
                    if result is not None:
                        result.add(*payload)
                    continue
                pending.discard(i)
                replies[i] = (status, payload)
                stopped_early = status != "ok" or (isinstance(payload, LoadResult) and payload.stopped)
                if stopped_early:
                    self._cancel(pending)

    def _cancel(self, pending: Collection[int]) -> None:
        for i in pending:
            self._links.send(i, "cancel", None)

    def _plans(self, plan: LoadPlan) -> list[LoadPlan | None]:
        """Each live worker's share of the slots and, in an open loop, of the arrival rate (a sum of
        independent Poisson processes is the Poisson process at the summed rate)."""
        live = [i for i, alive in enumerate(self._alive) if alive]
        if not live:
            raise WorkerLost("every client worker was lost: nothing is left to send requests")
        shares = dict(zip(live, split(plan.concurrency, len(live)), strict=True))
        rate = plan.request_rate
        return [
            None
            if not shares.get(i)
            else replace(
                plan,
                concurrency=shares[i],
                seed=plan.seed * 1000 + i,
                request_rate=None if rate is None else rate * shares[i] / plan.concurrency,
            )
            for i in range(len(self._alive))
        ]

    def warm(self, model: str, request: Mapping[str, Any], plan: LoadPlan) -> None:
        """Each worker opens its share of the connections and runs its warmup requests."""
        base = {"model": model, "request": dict(request)}
        self._each("warm", [None if p is None else {**base, "plan": p} for p in self._plans(plan)])

    def run(
        self, model: str, request: Mapping[str, Any], plan: LoadPlan, result: LoadResult | None = None
    ) -> LoadResult:
        """The workers' measured windows, started at one shared instant, streamed into ``result``
        (kept also when this is interrupted or a worker is lost); raises :class:`DailyQuotaExceeded`
        after a quota stop and :class:`WorkerLost` when a worker died."""
        result = LoadResult() if result is None else result
        base = {"model": model, "request": dict(request)}
        start_at = time.perf_counter_ns() + self._links.start_margin_ns
        plans = self._plans(plan)
        shares = [None if p is None else {**base, "plan": p, "start_at_ns": start_at} for p in plans]
        try:
            replies = self._each("measure", shares, result)
        finally:
            result.parse()
        quota: str | None = None
        for i, (status, payload) in zip(sorted(self._tallies), replies, strict=True):
            summary = payload[1] if status == "quota" else payload
            if status == "quota":
                quota = payload[0]
            self._tallies[i].loop_lag.extend(summary.loop_lag)
            result.loop_lag.extend(summary.loop_lag)
            result.cpu_seconds += summary.cpu_seconds
            if summary.stopped != "cancelled":
                result.stopped = result.stopped or summary.stopped
        self._judge(result, plans)
        if quota is not None:
            result.stopped = quota
            raise DailyQuotaExceeded.relayed(quota)
        return result

    def _judge(self, result: LoadResult, plans: list[LoadPlan | None]) -> None:
        """Each worker's self-check on its own figures and its own share of the slots (closed loop; an
        open loop's rule needs no count): pooled, one saturated worker among many would be averaged
        away, yet its samples are as skewed as a single saturated client's."""
        for i, tally in sorted(self._tallies.items()):
            own = LoadResult(
                samples=[s for s in result.samples if s.request_id in tally.request_ids],
                loop_lag=tally.loop_lag,
                dispatch_lag=tally.dispatch_lag,
            )
            share = plans[i]
            slots = None if share is None or share.request_rate is not None else share.concurrency
            judged = aggregate(own, self._max_client_lag, requested=slots, min_achieved=self._min_achieved)
            if judged["client"]["saturated"]:
                result.saturated_workers.append(self._links.name(i))

    def measure(
        self, model: str, request: Mapping[str, Any], plan: LoadPlan, result: LoadResult | None = None
    ) -> LoadResult:
        """Warm every worker, then run their shares in one shared window into ``result``."""
        self.warm(model, request, plan)
        return self.run(model, request, plan, result)

    def close(self) -> None:
        self._links.close()


@dataclass(frozen=True)
class PoolSpec:
    """What a pool of client workers is built from, wherever they run (processes here, Ray actors):
    the endpoint and how each request is sent, the most requests the pool must hold in flight, and
    the thresholds of its self-check (``--perf-max-client-lag``, ``--perf-min-achieved``)."""

    endpoint: Endpoint
    max_concurrency: int
    timeout: float
    policy: RetryPolicy
    max_client_lag: float
    min_achieved: float

    def pool_size(self, workers: int) -> int:
        """Connections each of ``workers`` clients keeps: its largest share of the requests in flight, plus 2."""
        return max(split(self.max_concurrency, workers)) + 2


class WorkerPool(ClientPool):
    """N client processes of this machine."""

    def __init__(self, spec: PoolSpec, *, workers: int) -> None:
        links = PipeLinks(
            spec.endpoint, workers=workers, pool_size=spec.pool_size(workers), timeout=spec.timeout, policy=spec.policy
        )
        super().__init__(links, max_client_lag=spec.max_client_lag, min_achieved=spec.min_achieved)
