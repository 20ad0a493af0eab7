"""Soak: 1,000 requests with 10 % random faults of every kind at concurrency 8, through the real Harness;
then 1,000 with 10 % malformed responses; then a persistent fault, which the circuit breaker stops.

Nothing may be lost: samples (ok + error) = requests issued; every attempt the client made
(samples + retries) is one request in the emulator's ground-truth log; every ok sample's request
id was served in full there; and no ok sample's latency is longer than that request's life on the
server plus a little network, so back-off sleeps, retry-after waits and timeouts stayed outside.

Each fault rule has the same probability q, with 1 - (1 - q)^rules = 10 %, drawn from the
emulator's seeded RNG (``--seed``), so a run can be repeated. The daily quota is left out: it
stops a run by design (tests/test_faults.py covers it).

    python benchmarks/soak.py                    # 1,000 requests, 10 % faults, concurrency 8
    python benchmarks/soak.py --requests 200 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, run_measured
from pytest_cerebras_perf.metrics import Sample
from pytest_cerebras_perf.retry import BREAKER_THRESHOLD, RetryPolicy
from pytest_cerebras_perf.settings import Secret, defaults
from pytest_cerebras_perf.stats import summarize
from pytest_cerebras_perf.target import Endpoint

KEY = "soak-key"
MODEL = "llama-3.3-70b"
REQUEST = {"messages": [{"role": "user", "content": "Soak."}], "max_completion_tokens": 32, "min_completion_tokens": 32}
TIMEOUT = 1.0  # per attempt: a hung request costs this much, then is retried
NETWORK_MARGIN = 0.1  # s a sample may exceed the server-side life of its request (loopback + client loop)
FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "http_500"},
    {"kind": "http_503"},
    {"kind": "rate_limit_rpm", "retry_after": 0.1},  # sent as "retry-after: 1"
    {"kind": "rate_limit_tpm"},
    {"kind": "stream_error", "after_chunks": 4},
    {"kind": "drop", "after_chunks": 4},
    {"kind": "drop"},  # before any byte
    {"kind": "hang"},
    {"kind": "slow_first_byte", "delay": 0.2},
)


# What each fault becomes in a sample when it is not retried (rate limits are always waited out;
# a slow first byte is latency, not a failure).
ERROR_OF_FAULT = {
    "http_500": "server_error",
    "http_503": "server_error",
    "stream_error": "stream_error",
    "drop": "connection",
    "hang": "timeout",
    "malformed": "malformed_response",
}


def fault_rules(rate: float) -> list[dict[str, Any]]:
    each = 1 - (1 - rate) ** (1 / len(FAULTS))
    return [{**fault, "probability": each} for fault in FAULTS]


async def soak(url: str, plan: LoadPlan, policy: RetryPolicy) -> LoadResult:
    endpoint = Endpoint("emulator", url, Secret(KEY), "fast")
    result = LoadResult()
    async with Harness(endpoint, pool_size=plan.concurrency + 2, timeout=TIMEOUT, policy=policy) as harness:
        await run_measured(harness, MODEL, REQUEST, plan, result)
    return result


def excess_over_server(sample: Sample, record: dict[str, Any]) -> float:
    """How much longer the client measured than the request lived on the server."""
    return (sample.e2e or 0.0) - (record["end_ns"] - record["arrival_ns"]) / 1e9


def check(samples: list[Sample], served: dict[str, dict[str, Any]], issued: int) -> list[str]:
    """Every broken accounting rule, as a line; empty when nothing was lost."""
    problems = []
    attempts = len(samples) + sum(s.retries for s in samples)
    if len(samples) != issued:
        problems.append(f"{issued} requests issued but {len(samples)} samples")
    if len(served) != attempts:
        problems.append(f"{attempts} attempts by the client but {len(served)} requests in the truth log")
    for sample in samples:
        if not sample.ok:
            continue
        record = served.get(str(sample.request_id))
        if record is None or record["status"] != 200 or record["completion_tokens"] != 32:
            problems.append(f"ok sample {sample.request_id} was not served in full: {record}")
        elif excess_over_server(sample, record) > NETWORK_MARGIN:
            problems.append(f"sample {sample.request_id}: e2e {sample.e2e} s includes a wait")
    return problems


def misclassified(samples: list[Sample], truth: list[dict[str, Any]]) -> list[str]:
    """Without retries every fault is one error sample: the kinds recorded must be the kinds injected."""
    expected = Counter(ERROR_OF_FAULT[str(r["fault"])] for r in truth if r["fault"] in ERROR_OF_FAULT)
    recorded = Counter(s.error.kind for s in samples if s.error is not None)
    return [] if expected == recorded else [f"error kinds {dict(recorded)} != injected {dict(expected)}"]


def report(name: str, result: LoadResult, truth: list[dict[str, Any]], issued: int, wall: float) -> list[str]:
    """Print one phase's figures; returns its accounting problems."""
    samples = result.samples
    ok = [s for s in samples if s.ok]
    errors = Counter(s.error.kind for s in samples if s.error is not None)
    injected = Counter(str(record["fault"]) for record in truth if record["fault"])
    ttft = summarize([s.ttft for s in ok if s.ttft is not None])
    served = {str(record["request_id"]): record for record in truth}
    excess = max((excess_over_server(s, served[str(s.request_id)]) for s in ok if s.request_id in served), default=0)
    retries = sum(s.retries for s in samples)
    print(f"-- phase: {name}")
    print(f"samples             {len(samples)} = {len(ok)} ok + {len(samples) - len(ok)} errors (issued {issued})")
    print(f"errors by kind      {dict(errors) or '{}'}")
    print(f"retries             {retries} (attempts {len(samples) + retries})")
    print(f"truth log           {len(truth)} requests, faults injected {sum(injected.values())}: {dict(injected)}")
    if result.stopped:
        print(f"stopped             {result.stopped}")
    if ttft is not None:
        print(
            f"ttft of ok samples  p50 {ttft.p50 * 1000:.1f} ms, p99 {ttft.p99 * 1000:.1f} ms, "
            f"max {ttft.max * 1000:.1f} ms"
        )
    print(f"latency vs server   max(e2e - server life of the request) = {excess * 1000:.1f} ms")
    print(f"wall time           {wall:.1f} s")
    problems = check(samples, served, issued)
    print("accounting          " + ("OK: every request accounted for" if not problems else f"{len(problems)} PROBLEMS"))
    for problem in problems[:20]:
        print(f"  {problem}")
    return problems


def phase(emulator: EmulatorProcess, faults: list[dict[str, Any]], plan: LoadPlan, policy: RetryPolicy) -> Any:
    emulator.reset()
    emulator.set_faults(faults)
    started = time.perf_counter()
    result = asyncio.run(soak(emulator.url, plan, policy))
    return result, emulator.truth(), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--retries", type=int, default=defaults(Path.cwd()).retries, help="per request (plugin default)"
    )
    args = parser.parse_args()
    plan = LoadPlan(iterations=args.requests // args.concurrency, warmup=0, concurrency=args.concurrency)
    policy = RetryPolicy(retries=args.retries)
    print(
        f"requests issued     {plan.requests} at concurrency {plan.concurrency}, "
        f"fault rate {args.fault_rate:.0%} per attempt, {args.retries} retries, seed {args.seed}"
    )
    problems: list[str] = []
    with EmulatorProcess() as emulator:
        emulator.start("fast", api_key=KEY, overrides={"seed": args.seed})
        # 1. every fault kind at random
        result, truth, wall = phase(emulator, fault_rules(args.fault_rate), plan, policy)
        problems += report("random faults of every kind", result, truth, plan.requests, wall)
        if args.retries == 0:
            problems += misclassified(result.samples, truth)
        # 2. malformed responses: each one an error sample, never retried, never a lost run
        malformed = [{"kind": "malformed", "probability": args.fault_rate}]
        result, truth, wall = phase(emulator, malformed, plan, policy)
        problems += report("malformed responses", result, truth, plan.requests, wall)
        problems += misclassified(result.samples, truth)
        # 3. a persistent fault: the breaker stops the scenario after a run of identical failures
        persistent = LoadPlan(iterations=plan.requests, warmup=0, concurrency=1)
        result, truth, wall = phase(emulator, [{"kind": "http_503"}], persistent, policy)
        problems += report("persistent 503 (circuit breaker)", result, truth, len(result.samples), wall)
        if not (result.stopped or "").startswith(f"stopped after {BREAKER_THRESHOLD} consecutive"):
            problems.append(f"the breaker did not stop the persistent fault: {result.stopped}")
        if len(truth) != BREAKER_THRESHOLD:
            problems.append(f"{len(truth)} attempts reached the server, not {BREAKER_THRESHOLD}")
    print("overall             " + ("OK" if not problems else f"{len(problems)} PROBLEMS"))
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
