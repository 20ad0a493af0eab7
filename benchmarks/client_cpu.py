"""What a request costs the client in CPU: the SDK's own share, and ours on top of it.

Against the emulator with harness_fidelity's profile (2,000 tok/s per stream, 150 ms TTFT, 256
tokens, one token per chunk), at each concurrency, back to back in one process:

- SDK alone: C slots that each send a streaming chat completion through the real
  ``AsyncCerebras`` (the same aiohttp transport and pool the plugin builds) and read its bytes
  with ``iter_bytes()``, doing nothing else: what any client of the SDK pays per request;
- plugin: the same requests through ``Harness``/``run_measured`` (timestamps, build turns, lag
  probe, retries, the parse after the window).

Each figure is ``time.process_time()`` of this process over the measured requests, in CPU ms per
request, split for the plugin into the measured window and the parse after it; reads/req is how
many pieces the transport handed over per response. Reads are not the same in both: the emulator
coalesces tokens that are due together into one write, and a client that reads late (the bare SDK
loop, busy with whole batches) makes it coalesce more, while the plugin reads promptly on purpose
(its timestamps depend on it). So the window is also shown per read, next to the SDK's per read:
where they match, what the window costs is the SDK's and its transport's reading, not ours. The
emulator runs in its own process and is not counted. On a shared machine the absolute figures move
with its load; the rows of a level run seconds apart.

    python benchmarks/client_cpu.py [--levels 64,128] [--rounds 3] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from harness_fidelity import API_KEY, MODEL, PROFILE, REQUEST

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, Outcome, run_measured, warm
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint, build_client

TIMEOUT = 120.0


async def _nothing(_: httpx.Request) -> None:
    return None


@dataclass(frozen=True)
class Cost:
    """CPU ms per request (the plugin's split into window and parse) and transport reads per request."""

    total: float
    reads: float
    parse: float = 0.0

    @property
    def window_per_read(self) -> float:
        return (self.total - self.parse) / self.reads


class _Counted(LoadResult):
    """Counts each response's reads before the parse drops them."""

    reads = 0
    parse_seconds = 0.0

    def add(self, outcome: Outcome, dispatch_lag: float | None) -> None:
        self.reads += 0 if outcome.raw is None else len(outcome.raw.chunks)
        super().add(outcome, dispatch_lag)

    def parse(self) -> None:
        start = time.process_time()
        super().parse()
        self.parse_seconds = time.process_time() - start


async def sdk_alone(endpoint: Endpoint, concurrency: int, rounds: int) -> Cost:
    """CPU ms per request of the bare SDK: send, read every byte, nothing else."""
    client = build_client(
        endpoint, pool_size=concurrency, timeout=TIMEOUT, on_request=_nothing, trace=aiohttp.TraceConfig()
    )

    reads = 0

    async def one() -> None:
        nonlocal reads
        async with client.chat.completions.with_streaming_response.create(
            model=MODEL, stream=True, timeout=TIMEOUT, **REQUEST
        ) as response:
            async for _ in response.iter_bytes():
                reads += 1

    async def slot(count: int) -> None:
        for _ in range(count):
            await one()

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))  # open the connections, untimed
        reads, start = 0, time.process_time()
        await asyncio.gather(*(slot(rounds) for _ in range(concurrency)))
        requests = concurrency * rounds
        return Cost(1000 * (time.process_time() - start) / requests, reads / requests)
    finally:
        await client.close()


async def plugin(endpoint: Endpoint, concurrency: int, rounds: int) -> Cost:
    """CPU ms per request of the plugin's measuring path (its own accounting, parse included)."""
    plan = LoadPlan(iterations=rounds, warmup=1, concurrency=concurrency)
    request: dict[str, Any] = dict(REQUEST)
    async with Harness(endpoint, pool_size=concurrency, timeout=TIMEOUT, policy=RetryPolicy(retries=0)) as harness:
        await warm(harness, MODEL, request, plan)
        result = await run_measured(harness, MODEL, request, plan, _Counted())
    requests = len(result.samples)
    return Cost(1000 * result.cpu_seconds / requests, result.reads / requests, 1000 * result.parse_seconds / requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="64,128")
    parser.add_argument("--rounds", type=int, default=3, help="requests per slot")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs per level (medians printed)")
    args = parser.parse_args()
    print(
        f"client CPU per request, 256 tokens in 256 chunks; load average now {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cores (shared: compare the rows of one level, not absolute figures across runs)"
    )
    print(
        f"{'conc':>4} | {'SDK alone ms/req':>16} {'reads/req':>9} {'ms/read':>7} | "
        f"{'plugin ms/req':>13} {'parse':>6} {'window':>6} {'reads/req':>9} {'window ms/read':>14}"
    )
    with EmulatorProcess() as emulator:
        url = emulator.start("fast", api_key=API_KEY, overrides=PROFILE)
        endpoint = Endpoint("emulator", url, Secret(API_KEY), "fast")
        for level in (int(x) for x in args.levels.split(",")):
            bare, ours = [], []
            for _ in range(args.repeat):
                bare.append(asyncio.run(sdk_alone(endpoint, level, args.rounds)))
                ours.append(asyncio.run(plugin(endpoint, level, args.rounds)))
            sdk = sorted(bare, key=lambda cost: cost.total)[len(bare) // 2]
            mine = sorted(ours, key=lambda cost: cost.total)[len(ours) // 2]
            print(
                f"{level:>4} | {sdk.total:>16.2f} {sdk.reads:>9.1f} {sdk.window_per_read:>7.3f} | "
                f"{mine.total:>13.2f} {mine.parse:>6.2f} {mine.total - mine.parse:>6.2f} {mine.reads:>9.1f} "
                f"{mine.window_per_read:>14.3f}"
            )


if __name__ == "__main__":
    main()
