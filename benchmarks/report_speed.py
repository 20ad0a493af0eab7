"""How long the HTML report takes: 4 scenarios × 20 iterations × 3 concurrency levels (issue 5: < 5 s).

Prints the median of a few render+write rounds after one warm-up (the warm-up pays for importing
matplotlib and loading fonts, which a pytest session pays once too), plus the report's size.

    python benchmarks/report_speed.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from results_factory import make_results

from pytest_cerebras_perf.report import write_report

TARGET_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = make_results(iterations=20, concurrency=(1, 4, 16), edge_cases=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        started = time.perf_counter()
        write_report(results, path)
        first = time.perf_counter() - started
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            write_report(results, path)
            times.append(time.perf_counter() - started)
        size = path.stat().st_size
    runs = len(results["scenarios"])
    samples = sum(len(s["samples"]) for s in results["scenarios"])
    print(
        f"report of {runs} scenario runs ({samples} requests): first {first:.2f} s (cold caches), "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
        f"over {args.rounds} rounds; {size / 1e6:.2f} MB; target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if statistics.median(times) < TARGET_SECONDS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
