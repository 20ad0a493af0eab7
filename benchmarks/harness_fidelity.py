"""How much of what our harness measures is the client's doing rather than the endpoint's?

Runs our own measuring path (``Harness``/``run_measured`` or ``WorkerPool``, the real
cerebras-cloud-sdk over aiohttp) against the emulator at concurrency 1, 16, 64 and 128 with
2,000 tok/s per stream, 150 ms TTFT, 256 output tokens and unlimited capacity, and compares every
sample with the emulator's ground-truth log (matched by the ``x-request-id`` header):

- TTFT error = client (first content token - t0) - server (first content write - arrival).
  The client interval runs from the harness's t0 (metrics.md, stamped in measure.py) to the read
  of the network chunk that holds the first token; the server's from its handler's start to its
  write of the first content chunk. The difference is everything between the two processes:
  the harness's own delays plus the kernel's loopback plus the emulator's time to accept and parse
  the request. It is split into its two legs on one clock: the request leg (server arrival - t0)
  and the first-token leg (client read - server write).
- e2e error = client (end of stream - t0) - server (last content write - arrival). The server
  writes the final usage chunk and ``[DONE]`` straight after its last content chunk, with no
  pacing in between, so its last write is when the end left the server; its ``end_ns`` is stamped
  only after the chunked terminator and the handler's teardown, up to ~1 ms later.
- TTFO error (reasoning profile) = client (first content token - t0) - server (first content write
  after the reasoning - arrival); TTFT there is the first reasoning token. A second table measures
  a gpt-oss-like reasoning profile (3,000 tok/s, 128 reasoning + 256 content tokens) at 1, 16, 64.
- aggregate tok/s error = ours (sum of completion tokens / (last end - first t0)) against the truth
  (the same tokens / (last [DONE] write - first arrival)), over the same measured requests.
- client CPU s per 1,000 tokens: CPU time of the client process(es) (``time.process_time`` inside
  each measuring process, so worker processes are included) from the first request of the window
  to the last parse, over the tokens received.
- achieved concurrency: the time-averaged number of requests in flight (``load.achieved_concurrency``:
  t0 to end of stream, from the C-th send to the last send), next to the requested C; "truth" is the
  same average over the emulator's own arrival-to-end records.
- pre-send wait p50/p99: how long a request waited for this client (its turn to build, then the
  event loop's write to the socket), not counting the SDK's own build.
- client CPU s per 1,000 requests: the same CPU time over the measured requests.
- behind: measured responses the emulator flagged as written behind its own schedule (then the
  emulator, not the client, is the limit); new conns: TCP connections the emulator saw during the
  measured window (0 = keep-alive worked, no handshake inside a TTFT); saturated / self-check:
  whether our self-check marked the run saturated (``aggregate.client``, load.py).

Both clocks are CLOCK_MONOTONIC on Linux (``perf_counter_ns`` here, ``monotonic_ns`` in the
emulator), so cross-process legs need no correction; elsewhere the emulator's estimated offset is
subtracted. Interval errors (TTFT, e2e) do not depend on the offset at all.

    python benchmarks/harness_fidelity.py [--levels 1,16,64,128] [--workers 1,2] [--samples 128]
                                          [--reasoning-levels 1,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.load import (
    Harness,
    LoadPlan,
    LoadResult,
    achieved_concurrency,
    aggregate,
    run_measured,
    warm,
)
from pytest_cerebras_perf.metrics import Sample
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import MIN_ACHIEVED_CONCURRENCY, Secret
from pytest_cerebras_perf.target import Endpoint
from pytest_cerebras_perf.workers import PoolSpec, WorkerPool

MODEL = "llama-3.3-70b"
TOKENS = 256
PROFILE = {
    "decode_tps": 2000.0,
    "ttft_base": 0.15,
    "capacity_tps": None,
    "tokens_per_chunk": 1,
    "prompt_tps": 1e12,
    "queue_time": 0.0,
    "queue_spike_probability": 0.0,
    "server_overhead": 0.0,
    "jitter_sigma": 0.0,
    "default_output_tokens": TOKENS,
}
REQUEST = {
    "messages": [{"role": "user", "content": "Tell me about wafer-scale inference."}],
    "max_completion_tokens": TOKENS,
    "min_completion_tokens": TOKENS,
}
REASONING_TOKENS = 128
REASONING_PROFILE = {
    **PROFILE,
    "decode_tps": 3000.0,
    "reasoning_tokens": {"medium": float(REASONING_TOKENS)},
    "default_reasoning_effort": "medium",
    "reasoning_sigma": 0.0,
}
REASONING_REQUEST = {
    "messages": REQUEST["messages"],
    "max_completion_tokens": 4 * TOKENS,
    "min_completion_tokens": REASONING_TOKENS + TOKENS,
    "reasoning_effort": "medium",
}
MAX_CLIENT_LAG = 0.010
TIMEOUT = 120.0
API_KEY = "harness-fidelity"
# Best peer per concurrency (shared/reference/anchors.md): TTFT error p50/p99 in ms; target = half.
PEER_BEST_TTFT_MS = {1: (0.7, 2.0), 16: (1.4, 7.0), 64: (12.6, 64.0)}


@dataclass(frozen=True)
class Row:
    concurrency: int
    workers: int
    samples: int
    ttft_ms: tuple[float, float]
    ttfo_ms: tuple[float, float]
    e2e_ms: tuple[float, float]
    request_leg_ms: tuple[float, float]
    token_leg_ms: tuple[float, float]
    tps: float
    truth_tps: float
    cpu_per_1k: float
    in_flight: float
    loop_lag_ms: float
    dispatch_share: float
    saturated: bool
    behind: int
    new_connections: int
    achieved: float | None
    truth_achieved: float | None
    pre_send_ms: tuple[float, float]
    cpu_per_1k_requests: float

    @property
    def tps_error(self) -> float:
        return self.tps / self.truth_tps - 1


def _p50_p99(values_ns: Sequence[int]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(values_ns, dtype=float) / 1e6, [50, 99])
    return float(p50), float(p99)


def clock_offset_ns(emulator: EmulatorProcess) -> int:
    """0 when both processes read CLOCK_MONOTONIC (exact); else the emulator's best estimate."""
    same = {time.get_clock_info(name).implementation for name in ("perf_counter", "monotonic")}
    if same == {"clock_gettime(CLOCK_MONOTONIC)"}:
        return 0
    return min((emulator.clock_offset_ns() for _ in range(5)), key=abs)


def compare(samples: Sequence[Sample], truth: Sequence[dict[str, Any]], offset_ns: int) -> dict[str, Any]:
    """Per-sample errors against the truth records of the same requests (see the module docstring)."""
    by_id = {record["request_id"]: record for record in truth}
    ttft, ttfo, e2e, request_leg, token_leg, matched = [], [], [], [], [], []
    for sample in samples:
        record, timing = by_id.get(sample.request_id or ""), sample.timing
        if not sample.ok or record is None or timing is None or timing.first_token_ns is None:
            raise RuntimeError(f"sample {sample.request_id} failed or is missing from the truth log: {sample.error}")
        arrival = record["arrival_ns"] - offset_ns
        first_write = record["first_token_ns"] - offset_ns
        last_write = record["last_token_ns"] - offset_ns
        ttft.append((timing.first_token_ns - timing.t0_ns) - (first_write - arrival))
        if timing.first_content_ns is not None and record["first_content_token_ns"] is not None:
            first_content = record["first_content_token_ns"] - offset_ns
            ttfo.append((timing.first_content_ns - timing.t0_ns) - (first_content - arrival))
        e2e.append((timing.end_ns - timing.t0_ns) - (last_write - arrival))
        request_leg.append(arrival - timing.t0_ns)
        token_leg.append(timing.first_token_ns - first_write)
        matched.append(record)
    window = max(r["last_token_ns"] for r in matched) - min(r["arrival_ns"] for r in matched)
    server_intervals = [(r["arrival_ns"], r["end_ns"]) for r in matched]
    return {
        "ttft": _p50_p99(ttft),
        "ttfo": _p50_p99(ttfo),
        "e2e": _p50_p99(e2e),
        "request_leg": _p50_p99(request_leg),
        "token_leg": _p50_p99(token_leg),
        "truth_tps": sum(r["completion_tokens"] for r in matched) / (window / 1e9),
        "behind": sum(1 for r in matched if r["behind_schedule"]),
        "server_intervals": server_intervals,
    }


def _measure_in_process(
    endpoint: Endpoint, plan: LoadPlan, emulator: EmulatorProcess, request: dict[str, Any]
) -> tuple[LoadResult, int]:
    async def go() -> tuple[LoadResult, int]:
        async with Harness(
            endpoint, pool_size=plan.concurrency, timeout=TIMEOUT, policy=RetryPolicy(retries=0)
        ) as harness:
            await warm(harness, MODEL, request, plan)
            connections = emulator.stats()["connections"]
            result = await run_measured(harness, MODEL, request, plan, LoadResult())
            return result, emulator.stats()["connections"] - connections

    return asyncio.run(go())


def _measure_with_workers(
    endpoint: Endpoint, plan: LoadPlan, workers: int, emulator: EmulatorProcess, request: dict[str, Any]
) -> tuple[LoadResult, int]:
    spec = PoolSpec(
        endpoint,
        max_concurrency=plan.concurrency,
        timeout=TIMEOUT,
        policy=RetryPolicy(retries=0),
        max_client_lag=MAX_CLIENT_LAG,
        min_achieved=MIN_ACHIEVED_CONCURRENCY,
    )
    pool = WorkerPool(spec, workers=workers)
    try:
        pool.warm(MODEL, request, plan)
        connections = emulator.stats()["connections"]
        result = pool.run(MODEL, request, plan)
        return result, emulator.stats()["connections"] - connections
    finally:
        pool.close()


def measure_level(
    emulator: EmulatorProcess,
    endpoint: Endpoint,
    concurrency: int,
    workers: int,
    samples: int,
    offset_ns: int,
    request: dict[str, Any] = REQUEST,
) -> Row:
    plan = LoadPlan(iterations=max(3, math.ceil(samples / concurrency)), warmup=1, concurrency=concurrency)
    emulator.clear_truth()
    if workers == 1:
        result, new_connections = _measure_in_process(endpoint, plan, emulator, request)
    else:
        result, new_connections = _measure_with_workers(endpoint, plan, workers, emulator, request)
    figures = aggregate(result, MAX_CLIENT_LAG, requested=concurrency)
    client = figures["client"]
    found = compare(result.samples, emulator.truth(), offset_ns)
    return Row(
        concurrency=concurrency,
        workers=workers,
        samples=len(result.samples),
        ttft_ms=found["ttft"],
        ttfo_ms=found["ttfo"],
        e2e_ms=found["e2e"],
        request_leg_ms=found["request_leg"],
        token_leg_ms=found["token_leg"],
        tps=figures["aggregate_output_tps"],
        truth_tps=found["truth_tps"],
        cpu_per_1k=client["cpu_per_1k_tokens"],
        in_flight=figures["mean_in_flight"],
        loop_lag_ms=client["loop_lag_p99"] * 1000,
        dispatch_share=client["dispatch_share"],
        saturated=client["saturated"],
        behind=found["behind"],
        new_connections=new_connections,
        achieved=figures["achieved_concurrency"],
        truth_achieved=achieved_concurrency(found["server_intervals"], concurrency),
        pre_send_ms=(1000 * (client["pre_send_wait_p50"] or 0.0), 1000 * (client["pre_send_wait_p99"] or 0.0)),
        cpu_per_1k_requests=1000 * result.cpu_seconds / len(result.samples),
    )


HEADER = (
    f"{'conc':>4} {'wkr':>3} {'n':>4} | {'ttft err ms':>13} | {'e2e err ms':>13} | {'req leg ms':>13} | "
    f"{'tok leg ms':>13} | {'agg tok/s':>9} {'truth':>9} {'err':>7} | {'cpu s/1k':>8} | "
    f"{'inflight':>8} {'loop p99':>8} {'disp %':>6} {'satur.':>6} | {'behind':>6} {'new conns':>9}"
)


def _pair(values: tuple[float, float]) -> str:
    return f"{values[0]:>+6.2f}/{values[1]:>+6.2f}"


def format_row(row: Row) -> str:
    return (
        f"{row.concurrency:>4} {row.workers:>3} {row.samples:>4} | {_pair(row.ttft_ms)} | {_pair(row.e2e_ms)} | "
        f"{_pair(row.request_leg_ms)} | {_pair(row.token_leg_ms)} | {row.tps:>9,.0f} {row.truth_tps:>9,.0f} "
        f"{row.tps_error:>+7.2%} | {row.cpu_per_1k:>8.4f} | {row.in_flight:>8.1f} {row.loop_lag_ms:>8.2f} "
        f"{row.dispatch_share:>6.1%} "
        f"{'YES' if row.saturated else 'no':>6} | {row.behind:>6} {row.new_connections:>9}"
    )


LOAD_HEADER = (
    f"{'conc':>4} {'wkr':>3} {'n':>4} | {'requested':>9} {'achieved':>8} {'truth':>7} | {'pre-send ms':>13} | "
    f"{'ttft err ms':>13} | {'e2e err ms':>13} | {'cpu s/1k req':>12} | self-check"
)


def _optional(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def format_load_row(row: Row) -> str:
    """The load the endpoint saw: the acceptance-1 columns of issue 18."""
    return (
        f"{row.concurrency:>4} {row.workers:>3} {row.samples:>4} | {row.concurrency:>9} {_optional(row.achieved):>8} "
        f"{_optional(row.truth_achieved):>7} | {row.pre_send_ms[0]:>6.2f}/{row.pre_send_ms[1]:>6.2f} | "
        f"{_pair(row.ttft_ms)} | {_pair(row.e2e_ms)} | {row.cpu_per_1k_requests:>12.2f} | "
        f"{'saturated' if row.saturated else 'ok'}"
    )


REASONING_HEADER = (
    f"{'conc':>4} {'n':>4} | {'ttft err ms':>13} | {'ttfo err ms':>13} | {'e2e err ms':>13} | "
    f"{'satur.':>6} | {'behind':>6}"
)


def format_reasoning_row(row: Row) -> str:
    return (
        f"{row.concurrency:>4} {row.samples:>4} | {_pair(row.ttft_ms)} | {_pair(row.ttfo_ms)} | {_pair(row.e2e_ms)} | "
        f"{'YES' if row.saturated else 'no':>6} | {row.behind:>6}"
    )


def measure_reasoning(levels: Sequence[int], samples: int) -> None:
    """TTFT (first reasoning token) and TTFO (first content token) errors on a reasoning profile."""
    print()
    print(
        f"reasoning profile: {REASONING_TOKENS} reasoning tokens (delta.reasoning) then {TOKENS} content tokens "
        f"at {REASONING_PROFILE['decode_tps']:,.0f} tok/s per stream, TTFT {PROFILE['ttft_base'] * 1000:.0f} ms; "
        "TTFT = first reasoning token, TTFO = first content token"
    )
    with EmulatorProcess() as emulator:
        url = emulator.start("fast", api_key=API_KEY, overrides=REASONING_PROFILE)
        endpoint = Endpoint("emulator", url, Secret(API_KEY), "fast")
        offset = clock_offset_ns(emulator)
        print(REASONING_HEADER, flush=True)
        for concurrency in levels:
            row = measure_level(emulator, endpoint, concurrency, 1, samples, offset, REASONING_REQUEST)
            print(format_reasoning_row(row), flush=True)


def verdicts(rows: Sequence[Row]) -> list[str]:
    """The issue's acceptance at concurrency 16 and the peer target (half the best peer) per level."""
    lines = []
    for row in rows:
        if row.concurrency == 16:
            ok = row.ttft_ms[0] < 1 and row.ttft_ms[1] < 5 and abs(row.tps_error) < 0.03
            lines.append(
                f"c=16 workers={row.workers}: acceptance (ttft err p50 < 1 ms, p99 < 5 ms, agg tok/s "
                f"within 3 %): {'MET' if ok else 'NOT MET'}"
            )
        peer = PEER_BEST_TTFT_MS.get(row.concurrency)
        if peer is not None:
            ok = abs(row.ttft_ms[0]) <= peer[0] / 2 and abs(row.ttft_ms[1]) <= peer[1] / 2
            lines.append(
                f"c={row.concurrency} workers={row.workers}: best peer ttft err {peer[0]}/{peer[1]} ms, "
                f"target half: {'MET' if ok else 'NOT MET'}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,16,64,128")
    parser.add_argument("--workers", default="1,2", help="client process counts to compare (1 = in-process)")
    parser.add_argument("--samples", type=int, default=128, help="measured requests per level (at least 3 rounds)")
    parser.add_argument("--reasoning-levels", default="1,16,64", help="levels for the reasoning profile ('' = skip)")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    worker_counts = [int(count) for count in args.workers.split(",")]
    print(
        f"harness fidelity: {TOKENS} tokens at {PROFILE['decode_tps']:,.0f} tok/s per stream, "
        f"TTFT {PROFILE['ttft_base'] * 1000:.0f} ms, unlimited capacity; real SDK over aiohttp"
    )
    print(
        f"NOTE: the emulator and the client share this machine's {os.cpu_count()} cores (and whatever else "
        f"runs on it; load average now {os.getloadavg()[0]:.2f}): at high concurrency they compete for CPU."
    )
    print(
        "errors are client minus ground truth, p50/p99 in ms; legs: request = server arrival - t0, "
        "token = client read - server write of the first token"
    )
    with EmulatorProcess() as emulator:
        url = emulator.start("fast", api_key=API_KEY, overrides=PROFILE)
        endpoint = Endpoint("emulator", url, Secret(API_KEY), "fast")
        offset = clock_offset_ns(emulator)
        print(
            f"clock offset applied to server stamps: {offset} ns "
            f"(emulator's own estimate {emulator.clock_offset_ns() / 1e3:+.1f} us)"
        )
        print(HEADER, flush=True)
        rows = []
        for concurrency in levels:
            for workers in worker_counts:
                row = measure_level(emulator, endpoint, concurrency, workers, args.samples, offset)
                rows.append(row)
                print(format_row(row), flush=True)
    print()
    print("the load the endpoint saw: requested C, achieved concurrency (client stamps; emulator truth), pre-send wait")
    print(LOAD_HEADER)
    for row in rows:
        print(format_load_row(row))
    print()
    for line in verdicts(rows):
        print(line)
    reasoning_levels = [int(level) for level in args.reasoning_levels.split(",") if level]
    if reasoning_levels:
        measure_reasoning(reasoning_levels, args.samples)


if __name__ == "__main__":
    main()
