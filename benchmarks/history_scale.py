"""Append and query time of the run history at scale: 10,000 runs × 8 scenarios × 12 metrics, in
SQLite (a file, WAL) and PostgreSQL (``--postgres URL``, else a throw-away cluster started from
the local binaries, as the tests do).

Each run is appended through :meth:`HistoryStore.append` in its own transaction, as a session does
(8 scenario runs with 10 compressed samples each, 96 metric summaries). At checkpoints the script
prints the append time per run over the last stretch and the median time of the queries a session
and the CLI make: one trend series (last 30 runs of a scenario × metric), ``history list --last
30``, and the whole trend section of one run (8 scenarios × 5 gated metrics, change points
included).

    python benchmarks/history_scale.py [--runs 10000] [--postgres URL] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from pytest_cerebras_perf.history.entries import MetricEntry, RunEntry, ScenarioEntry, compress_samples
from pytest_cerebras_perf.history.location import history_url
from pytest_cerebras_perf.history.store import HistoryStore
from pytest_cerebras_perf.history.trends import TREND_RUNS, history_section
from pytest_cerebras_perf.metrics import METRICS

SCENARIOS = 8
METRIC_NAMES = tuple(METRICS)[:12]
GATED = ("ttft", "e2e", "output_tps", "server_total", "tpot")
QUERY_REPEATS = 20


def _entry(run: int, rng: np.random.Generator, samples: bytes) -> RunEntry:
    scenarios = []
    for s in range(SCENARIOS):
        metrics = []
        for metric in METRIC_NAMES:
            centre = float(rng.lognormal(-3.0, 0.05))
            metrics.append(MetricEntry(metric, 10, centre, centre * 1.2, centre * 1.4, centre * 1.02, centre, 0.01))
        scenarios.append(ScenarioEntry(f"scenario_{s}@c1", 1, True, ("fp_1",), samples, tuple(metrics)))
    return RunEntry(
        run_id=f"bench-{run:06d}",
        started=f"2026-01-01T00:00:00+00:00#{run}",
        finished=None,
        partial=False,
        target_kind="emulator",
        target_key="emulator",
        base_url="http://127.0.0.1:1",
        model="m",
        commit_id="0" * 40,
        branch="main",
        plugin_version="0.1.0",
        sdk_version="1.91.0",
        settings="{}",
        scenarios=tuple(scenarios),
    )


def _median_ms(call: Callable[[], object], repeats: int = QUERY_REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(name: str, url: str, runs: int) -> None:
    rng = np.random.default_rng(0)
    samples = compress_samples([{"ok": True, "ttft": 0.01, "e2e": 0.05, "output_tps": 2000.0}] * 10)
    checkpoints = sorted({c for c in (1000, 5000, runs) if c <= runs})
    print(f"\n{name}: {runs:,} runs × {SCENARIOS} scenarios × {len(METRIC_NAMES)} metrics")
    print(f"{'runs':>8} {'append ms/run':>14} {'series ms':>10} {'list ms':>8} {'trend section ms':>17}")
    with HistoryStore.open(url) as store:
        done = 0
        for checkpoint in checkpoints:
            stretch, start = checkpoint - done, time.perf_counter()
            while done < checkpoint:
                done += 1
                store.append(_entry(done, rng, samples))
            append_ms = (time.perf_counter() - start) / stretch * 1000
            series_ms = _median_ms(lambda: store.series("emulator", "m", "scenario_3@c1", "e2e", TREND_RUNS))
            list_ms = _median_ms(lambda: store.runs(30))
            last = _entry(done, rng, samples)
            section_ms = _median_ms(functools.partial(history_section, store, last, done, GATED, {}), repeats=3)
            print(f"{checkpoint:>8,} {append_ms:>14.2f} {series_ms:>10.2f} {list_ms:>8.2f} {section_ms:>17.1f}")


@contextlib.contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from postgres_cluster import postgres_database

    with postgres_database() as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--postgres", help="a postgresql:// URL of an empty database (default: start a cluster)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: a started cluster is stopped
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            url = history_url(str(Path(folder) / "h.sqlite"), baseline_dir=Path(folder), root=Path(folder), source="x")
            assert url is not None
            measure("SQLite", url, args.runs)
    if args.only != "sqlite":
        with _postgres(args.postgres) as server:
            url = history_url(server, baseline_dir=Path("."), root=Path("."), source="--postgres")
            assert url is not None
            measure("PostgreSQL", url, args.runs)


if __name__ == "__main__":
    main()
