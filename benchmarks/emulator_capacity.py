"""How fast can the emulator stream before it, rather than its latency model, sets the pace?

Ramps concurrency with a profile of 2,000 tok/s per stream, 0.1 s TTFT and unlimited capacity, for
1 and for 8 tokens per chunk, and reads the emulator's ground-truth log to compare when each stream's
first and last chunks were actually written with when its latency model scheduled them. The client
is deliberately cheap (raw aiohttp, bytes read and dropped, nothing parsed) so that the emulator is
what is measured; it still shares this machine's cores with the emulator, so the figures are a floor
for a quieter machine.

    python benchmarks/emulator_capacity.py [--levels 1,2,4,...] [--tokens 2000] [--tolerance 0.05]

Prints one table row per (tokens per chunk, concurrency): target and achieved aggregate tok/s, the
worst stream's TTFT and decode time as scheduled / actual (1.000 = on schedule), how many streams the
emulator itself flagged as behind schedule, and the worst lateness of any write (ms). Then, per chunk
size, the ceiling: the highest aggregate tok/s (and its concurrency) at which every stream's TTFT and
decode time stayed within the tolerance of the schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.request_id import REQUEST_ID_HEADER

DECODE_TPS = 2000.0
TTFT_S = 0.1
MODEL = "llama-3.3-70b"


@dataclass(frozen=True)
class LevelResult:
    """Ratios are scheduled / actual durations: 1.0 on schedule, 0.95 means 5 % slower than the model."""

    tokens_per_chunk: int
    concurrency: int
    aggregate_tps: float
    worst_ttft_ratio: float
    worst_decode_ratio: float
    behind: int
    max_late_ms: float

    def within(self, tolerance: float) -> bool:
        return min(self.worst_ttft_ratio, self.worst_decode_ratio) >= 1.0 - tolerance


async def _stream(session: aiohttp.ClientSession, url: str, body: bytes, request_id: str) -> None:
    """Read one stream to its end in whatever pieces the socket delivers; nothing is split or parsed."""
    headers = {"content-type": "application/json", REQUEST_ID_HEADER: request_id}
    async with session.post(f"{url}/v1/chat/completions", data=body, headers=headers) as response:
        response.raise_for_status()
        async for _ in response.content.iter_any():
            pass


async def _run_level(url: str, concurrency: int, tokens: int) -> None:
    body = json.dumps(
        {
            "model": MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": "go"}],
            "min_completion_tokens": tokens,
            "max_completion_tokens": tokens,
        }
    ).encode()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        await asyncio.gather(*(_stream(session, url, body, f"c{concurrency}-{i}") for i in range(concurrency)))


def _analyse(records: list[dict[str, Any]], tokens_per_chunk: int, concurrency: int) -> LevelResult:
    """Compare each stream's actual first and last writes with the times its latency model scheduled.

    TTFT ratio: (first due - arrival) / (first written - arrival). Decode ratio: (last due - first due) /
    (last written - first due), measured from the scheduled start so that a late start which the
    stream later catches up with (by writing overdue chunks together) still counts against it.
    """
    streams = [r for r in records if r["outcome"] == "ok" and r["last_token_ns"] is not None]
    if len(streams) != concurrency:
        raise RuntimeError(f"expected {concurrency} completed streams, the truth log has {len(streams)}")
    ttft_ratios, decode_ratios = [], []
    for r in streams:
        ttft_ratios.append((r["first_token_due_ns"] - r["arrival_ns"]) / (r["first_token_ns"] - r["arrival_ns"]))
        scheduled = r["last_token_due_ns"] - r["first_token_due_ns"]
        decode_ratios.append(scheduled / (r["last_token_ns"] - r["first_token_due_ns"]))
    window = (max(r["last_token_ns"] for r in streams) - min(r["first_token_ns"] for r in streams)) / 1e9
    total = sum(r["completion_tokens"] for r in streams)
    return LevelResult(
        tokens_per_chunk,
        concurrency,
        total / window,
        min(ttft_ratios),
        min(decode_ratios),
        sum(1 for r in streams if r["behind_schedule"]),
        max(r["behind_schedule_s"] for r in streams) * 1000,
    )


def measure(tokens_per_chunk: int, levels: Sequence[int], tokens: int, tolerance: float) -> list[LevelResult]:
    overrides = {
        "decode_tps": DECODE_TPS,
        "capacity_tps": None,
        "tokens_per_chunk": tokens_per_chunk,
        "ttft_base": TTFT_S,
        "queue_time": 0.0,
        "jitter_sigma": 0.0,
        "server_overhead": 0.0,
    }
    results = []
    with EmulatorProcess() as emulator:
        url = emulator.start("fast", overrides=overrides)
        asyncio.run(_run_level(url, 2, min(tokens, 200)))  # warm up imports, JIT-free caches, TCP
        for concurrency in levels:
            emulator.reset()
            asyncio.run(_run_level(url, concurrency, tokens))
            result = _analyse(emulator.truth(), tokens_per_chunk, concurrency)
            results.append(result)
            _print_row(result, tolerance)
            if result.worst_decode_ratio < 0.5:
                break  # far past the ceiling; higher levels only take longer
    return results


def _print_row(result: LevelResult, tolerance: float) -> None:
    print(
        f"{result.tokens_per_chunk:>5} {result.concurrency:>6} {result.concurrency * DECODE_TPS:>12,.0f} "
        f"{result.aggregate_tps:>12,.0f} {result.worst_ttft_ratio:>8.3f} {result.worst_decode_ratio:>8.3f} "
        f"{result.behind:>7} {result.max_late_ms:>9.1f} {'yes' if result.within(tolerance) else 'NO':>5}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8,16,32,64,128")
    parser.add_argument("--tokens", type=int, default=2000, help="output tokens per stream (default: 1 s of decode)")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--chunk-sizes", default="1,8")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    print(
        f"{'tok/ch':>5} {'conc':>6} {'target tok/s':>12} {'actual tok/s':>12} {'ttft':>8} {'decode':>8} "
        f"{'behind':>7} {'late ms':>9} {'ok':>5}"
    )
    ceilings = []
    for tokens_per_chunk in (int(size) for size in args.chunk_sizes.split(",")):
        results = measure(tokens_per_chunk, levels, args.tokens, args.tolerance)
        kept = [result for result in results if result.within(args.tolerance)]
        ceilings.append((tokens_per_chunk, max(kept, key=lambda r: r.aggregate_tps) if kept else None))
    print()
    for tokens_per_chunk, best in ceilings:
        if best is None:
            print(f"{tokens_per_chunk} token(s)/chunk: never within {args.tolerance:.0%} of schedule")
        else:
            print(
                f"{tokens_per_chunk} token(s)/chunk: ceiling {best.aggregate_tps:,.0f} tok/s aggregate at "
                f"concurrency {best.concurrency} "
                f"(every stream within {args.tolerance:.0%} of {DECODE_TPS:,.0f} tok/s)"
            )


if __name__ == "__main__":
    main()
