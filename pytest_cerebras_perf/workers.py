"""Client processes for loads one Python process cannot drive without skewing its own timings.

One asyncio process parsing thousands of chunks per second holds the GIL long enough to delay
other streams' timestamps (a documented bias of single-process benchmark clients). Each worker
here has its own interpreter, event loop, SDK client and connection pool; the parent splits the
in-flight slots between them, starts their measured windows at one shared instant, and merges
their samples. ``perf_counter_ns`` is CLOCK_MONOTONIC on Linux, shared by all processes, so the
merged window and aggregate throughput are computed on one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from .load import Harness, LoadPlan, LoadResult, run_measured, warm
from .retry import DailyQuotaExceeded, RetryPolicy
from .target import Endpoint

START_MARGIN_NS = 200_000_000


def split(total: int, parts: int) -> list[int]:
    """``total`` slots over ``parts`` workers as evenly as possible; workers with 0 slots stay idle."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _serve(conn: Connection, endpoint: Endpoint, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
    loop = asyncio.new_event_loop()

    async def build() -> Harness:
        return Harness(endpoint, pool_size=pool_size, timeout=timeout, policy=policy)

    harness = loop.run_until_complete(build())
    try:
        while True:
            command, args = conn.recv()
            if command == "stop":
                break
            try:
                conn.send(_run(loop, harness, command, args))
            except Exception as exc:  # reported to the parent, which raises it with the worker's name
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        loop.run_until_complete(harness.close())
        loop.close()


def _run(loop: asyncio.AbstractEventLoop, harness: Harness, command: str, args: dict[str, Any]) -> tuple[str, Any]:
    model, request, plan = args["model"], args["request"], args["plan"]
    if command == "warm":
        loop.run_until_complete(warm(harness, model, request, plan))
        return "ok", None
    result = LoadResult()
    try:
        loop.run_until_complete(run_measured(harness, model, request, plan, result, start_at_ns=args["start_at_ns"]))
    except DailyQuotaExceeded as exc:
        return "quota", (str(exc), result)
    return "ok", result


class WorkerPool:
    """N long-lived client processes, each warmed once per scenario like the single-process harness."""

    def __init__(
        self, endpoint: Endpoint, *, workers: int, max_concurrency: int, timeout: float, policy: RetryPolicy
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        pool_size = max(split(max_concurrency, workers)) + 2
        for index in range(workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(child, endpoint, pool_size, timeout, policy),
                name=f"cerebras-perf-worker-{index}",
                daemon=True,
            )
            process.start()
            self._conns.append(parent)
            self._procs.append(process)

    def _each(self, command: str, args_for: list[dict[str, Any] | None]) -> list[tuple[str, Any]]:
        active = [
            (i, conn, args)
            for i, (conn, args) in enumerate(zip(self._conns, args_for, strict=True))
            if args is not None
        ]
        for _, conn, args in active:
            conn.send((command, args))
        replies = [(i, conn.recv()) for i, conn, _ in active]
        for i, (status, payload) in replies:
            if status == "error":
                raise RuntimeError(f"client worker {i} failed: {payload}")
        return [reply for _, reply in replies]

    def _plans(self, plan: LoadPlan) -> list[LoadPlan | None]:
        """Each worker's share of the slots and, in an open loop, of the arrival rate (a sum of
        independent Poisson processes is the Poisson process at the summed rate)."""
        shares = split(plan.concurrency, len(self._conns))
        rate = plan.request_rate
        return [
            None
            if share == 0
            else replace(
                plan,
                concurrency=share,
                seed=plan.seed * 1000 + i,
                request_rate=None if rate is None else rate * share / plan.concurrency,
            )
            for i, share in enumerate(shares)
        ]

    def warm(self, model: str, request: Mapping[str, Any], plan: LoadPlan) -> None:
        """Each worker opens its share of the connections and runs its warmup requests."""
        base = {"model": model, "request": dict(request)}
        self._each("warm", [None if p is None else {**base, "plan": p} for p in self._plans(plan)])

    def run(self, model: str, request: Mapping[str, Any], plan: LoadPlan) -> LoadResult:
        """The workers' measured windows, started at one shared instant, merged into one result."""
        base = {"model": model, "request": dict(request)}
        start_at = time.perf_counter_ns() + START_MARGIN_NS
        replies = self._each(
            "measure", [None if p is None else {**base, "plan": p, "start_at_ns": start_at} for p in self._plans(plan)]
        )
        merged = LoadResult()
        quota: str | None = None
        for status, payload in replies:
            if status == "quota":
                quota, result = payload
                merged.merge(result)
            else:
                merged.merge(payload)
        if quota is not None:
            merged.stopped = quota
        return merged

    def measure(self, model: str, request: Mapping[str, Any], plan: LoadPlan) -> LoadResult:
        """Warm every worker, then run their shares in one shared window and merge the samples."""
        self.warm(model, request, plan)
        return self.run(model, request, plan)

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send(("stop", None))
        for process in self._procs:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self._conns, self._procs = [], []
