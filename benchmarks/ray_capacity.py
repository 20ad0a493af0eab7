"""How many streams can ``--perf-ray`` drive per node before its self-check turns red, and how
close are its TTFTs to the emulator's truth?

Starts a real two-node Ray cluster on this machine (tests/ray_cluster.py: ``ray start``, one CPU a
node) and the emulator in its own process (150 ms TTFT, 1,000 tok/s per stream, 64 output tokens,
no capacity limit), then for 1 actor on 1 node and 2 actors on 2 nodes (the ``--perf-ray`` path:
:class:`RayPool`, the real SDK in each actor):

- capacity: concurrency doubled from 4 until the actors' self-check marks the run
  saturated (``aggregate.client``; the default 10 ms lag limit); the highest green level is printed;
- TTFT error at 16 and 64: client TTFT (first token read - t0, on the driver's clock) minus the
  emulator's (first token write - arrival), p50 and p99 over the measured requests, matched by
  request id. A local in-process row (``Harness``) is measured beside them at the same moment, so
  a loaded machine shows in both.

This machine has 2 cores for the driver, the actors, the Ray daemons and the emulator: it bounds
the figures from below. The README's model of a cluster is built from them.

    python benchmarks/ray_capacity.py [--levels 4,8,16,32,64,128,256] [--samples 128]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ray_cluster import LocalRayCluster

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, aggregate, run_measured, warm
from pytest_cerebras_perf.ray_pool import RayPool, connect
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import MIN_ACHIEVED_CONCURRENCY, Secret
from pytest_cerebras_perf.target import Endpoint
from pytest_cerebras_perf.workers import PoolSpec

MODEL = "llama-3.3-70b"
KEY = "ray-capacity-key"
MAX_CLIENT_LAG = 0.010
TIMEOUT = 60.0
REQUEST = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 64}
PROFILE = {
    "ttft_base": 0.15,
    "prompt_tps": 1e12,
    "decode_tps": 1000.0,
    "queue_time": 0.0,
    "jitter_sigma": 0.0,
}


def ttft_errors_ms(result: LoadResult, truth: list[dict[str, Any]]) -> list[float]:
    by_id = {record["request_id"]: record for record in truth}
    errors = []
    for sample in result.samples:
        record = by_id.get(sample.request_id)
        if sample.ttft is None or record is None or record.get("first_token_ns") is None:
            continue
        errors.append(1e3 * (sample.ttft - (record["first_token_ns"] - record["arrival_ns"]) / 1e9))
    return errors


def plan_for(level: int, samples: int) -> LoadPlan:
    """At least three rounds of every slot: the achieved concurrency is measured from the level-th
    send to the last one, so with fewer rounds the self-check judges only the first turnover."""
    return LoadPlan(iterations=max(3, math.ceil(samples / level)), warmup=1, concurrency=level)


def local_run(endpoint: Endpoint, plan: LoadPlan, emulator: EmulatorProcess) -> LoadResult:
    async def go() -> LoadResult:
        policy = RetryPolicy(retries=0)
        async with Harness(endpoint, pool_size=plan.concurrency + 2, timeout=TIMEOUT, policy=policy) as harness:
            await warm(harness, MODEL, REQUEST, plan)
            emulator.clear_truth()
            return await run_measured(harness, MODEL, REQUEST, plan, LoadResult())

    return asyncio.run(go())


def ray_run(pool: RayPool, plan: LoadPlan, emulator: EmulatorProcess) -> LoadResult:
    pool.warm(MODEL, REQUEST, plan)
    emulator.clear_truth()
    return pool.run(MODEL, REQUEST, plan)


def line(label: str, level: int, result: LoadResult, emulator: EmulatorProcess) -> bool:
    errors = ttft_errors_ms(result, emulator.truth())
    figures = aggregate(result, MAX_CLIENT_LAG, requested=level)
    p50, p99 = np.percentile(errors, [50, 99]) if errors else (float("nan"), float("nan"))
    client = figures["client"]
    print(
        f"{label:<18} c={level:<4} ok {figures['ok']:>4}/{figures['requests']:<4} "
        f"TTFT error p50 {p50:+7.2f} ms  p99 {p99:+7.2f} ms  loop lag p99 {1e3 * client['loop_lag_p99']:6.2f} ms  "
        f"saturated {client['saturated']}",
        flush=True,
    )
    return client["saturated"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="4,8,16,32,64,128,256", help="capacity ladder")
    parser.add_argument("--samples", type=int, default=128, help="measured requests per level (at least 3 rounds)")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    with EmulatorProcess() as emulator, LocalRayCluster(Path(tempfile.mkdtemp(prefix="cpr-")) / "ray") as cluster:
        emulator.start("fast", api_key=KEY, overrides={**load_profile("fast").to_dict(), **PROFILE})
        endpoint = Endpoint("emulator", emulator.url, Secret(KEY), "fast")
        connect(cluster.address)
        capacity: dict[str, int | None] = {}
        for nodes in (1, 2):
            label = f"ray {nodes} node(s)"
            while ray.available_resources().get("CPU", 0) < 2:  # the last pool's actor gives its CPU back
                time.sleep(0.2)
            spec = PoolSpec(
                endpoint,
                max_concurrency=max(levels),
                timeout=TIMEOUT,
                policy=RetryPolicy(retries=0),
                max_client_lag=MAX_CLIENT_LAG,
                min_achieved=MIN_ACHIEVED_CONCURRENCY,
            )
            pool = RayPool(spec, address=None, actors=nodes)
            print(pool.describe(), flush=True)
            try:
                for level in (16, 64):
                    plan = plan_for(level, args.samples)
                    line("local in-process", level, local_run(endpoint, plan, emulator), emulator)
                    line(label, level, ray_run(pool, plan, emulator), emulator)
                capacity[label] = None
                for level in levels:
                    plan = plan_for(level, args.samples)
                    if line(f"{label} ladder", level, ray_run(pool, plan, emulator), emulator):
                        break
                    capacity[label] = level
            finally:
                pool.close()
        for label, level in capacity.items():
            green = level or f"none (saturated at {levels[0]})"
            print(f"{label}: highest concurrency with the self-check green: {green}")


if __name__ == "__main__":
    main()
