"""What a request costs the client in CPU: the SDK's own share, and ours on top of it.

Against the emulator with harness_fidelity's profile (2,000 tok/s per stream, 150 ms TTFT, 256
tokens, one token per chunk), at each concurrency, back to back in one process:

- SDK alone: C slots that each send a streaming chat completion through the real
  ``AsyncCerebras`` (the same aiohttp transport and pool the plugin builds) and read its bytes
  with ``iter_bytes()``, doing nothing else: what any client of the SDK pays per request;
- plugin: the same requests through ``Harness``/``run_measured`` (timestamps, build turns, lag
  probe, retries, the parse after the window).

Each figure is ``time.process_time()`` of this process over the measured requests, in CPU ms per
request; "ours" is the difference. The emulator runs in its own process and is not counted. On a
shared machine the absolute figures move with its load; the two rows of a level run seconds apart.

    python benchmarks/client_cpu.py [--levels 64,128] [--rounds 3] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import aiohttp
import httpx
from harness_fidelity import API_KEY, MODEL, PROFILE, REQUEST

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, run_measured, warm
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint, build_client

TIMEOUT = 120.0


async def _nothing(_: httpx.Request) -> None:
    return None


async def sdk_alone(endpoint: Endpoint, concurrency: int, rounds: int) -> float:
    """CPU ms per request of the bare SDK: send, read every byte, nothing else."""
    client = build_client(
        endpoint, pool_size=concurrency, timeout=TIMEOUT, on_request=_nothing, trace=aiohttp.TraceConfig()
    )

    async def one() -> None:
        async with client.chat.completions.with_streaming_response.create(
            model=MODEL, stream=True, timeout=TIMEOUT, **REQUEST
        ) as response:
            async for _ in response.iter_bytes():
                pass

    async def slot(count: int) -> None:
        for _ in range(count):
            await one()

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))  # open the connections, untimed
        start = time.process_time()
        await asyncio.gather(*(slot(rounds) for _ in range(concurrency)))
        return 1000 * (time.process_time() - start) / (concurrency * rounds)
    finally:
        await client.close()


async def plugin(endpoint: Endpoint, concurrency: int, rounds: int) -> float:
    """CPU ms per request of the plugin's measuring path (its own accounting, parse included)."""
    plan = LoadPlan(iterations=rounds, warmup=1, concurrency=concurrency)
    request: dict[str, Any] = dict(REQUEST)
    async with Harness(endpoint, pool_size=concurrency, timeout=TIMEOUT, policy=RetryPolicy(retries=0)) as harness:
        await warm(harness, MODEL, request, plan)
        result = await run_measured(harness, MODEL, request, plan, LoadResult())
    return 1000 * result.cpu_seconds / len(result.samples)


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
    print(f"{'conc':>4} | {'SDK alone ms':>12} | {'plugin ms':>9} | {'ours ms':>7} | {'ours %':>6}")
    with EmulatorProcess() as emulator:
        url = emulator.start("fast", api_key=API_KEY, overrides=PROFILE)
        endpoint = Endpoint("emulator", url, Secret(API_KEY), "fast")
        for level in (int(x) for x in args.levels.split(",")):
            bare, ours = [], []
            for _ in range(args.repeat):
                bare.append(asyncio.run(sdk_alone(endpoint, level, args.rounds)))
                ours.append(asyncio.run(plugin(endpoint, level, args.rounds)))
            sdk, total = sorted(bare)[len(bare) // 2], sorted(ours)[len(ours) // 2]
            print(f"{level:>4} | {sdk:>12.2f} | {total:>9.2f} | {total - sdk:>7.2f} | {(total - sdk) / total:>6.1%}")


if __name__ == "__main__":
    main()
