"""``python -m pytest_cerebras_perf.history [--db URL] list | show RUN | trend SCENARIO METRIC |
export --csv FILE | prune --keep N``: the run history without a pytest session.

``--db`` defaults to ``CEREBRAS_PERF_HISTORY``, else ``baselines/perf-history.sqlite`` under the
current folder (the plugin's default). Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..redact import redact
from ..report.units import format_metric
from .changepoints import change_points
from .location import LocationError, history_url
from .store import HistoryError, HistoryStore
from .trends import TREND_RUNS, shift_note

EXPORT_COLUMNS = (
    "run",
    "run_id",
    "started",
    "target_key",
    "model",
    "commit_id",
    "scenario",
    "concurrency",
    "metric",
    "n",
    "p50",
    "p90",
    "p99",
    "mean",
    "centre",
    "spread",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_cerebras_perf.history", description=__doc__)
    parser.add_argument(
        "--db",
        help="a SQLite file or postgresql:// URL (default: CEREBRAS_PERF_HISTORY, else baselines/perf-history.sqlite)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the runs, oldest first")
    listing.add_argument("--last", type=int, default=None, help="only the last N runs")
    show = commands.add_parser("show", help="one run: its record and per scenario the metric summaries (JSON)")
    show.add_argument("run", help="run number or run id")
    trend = commands.add_parser("trend", help="one scenario × metric over the last runs, with change points")
    trend.add_argument("scenario", help="<scenario>@c<concurrency>, e.g. decode_heavy@c1")
    trend.add_argument("metric")
    trend.add_argument("--target", help="baseline set (target key); default: the only one with this scenario")
    trend.add_argument("--model")
    trend.add_argument("--last", type=int, default=TREND_RUNS)
    export = commands.add_parser("export", help="every run × scenario × metric summary as CSV")
    export.add_argument("--csv", required=True, type=Path, dest="csv_path")
    prune = commands.add_parser("prune", help="delete all but the newest N runs")
    prune.add_argument("--keep", required=True, type=int)
    return parser


def _list(store: HistoryStore, last: int | None) -> None:
    print(f"{'run':>5}  {'run id':24} {'started':25} {'target':18} {'model':22} {'commit':12} scenarios")
    for row in store.runs(last):
        partial = " (partial)" if row.partial else ""
        print(
            f"{row.number:>5}  {row.run_id:24} {row.started:25} {row.target_key:18} {row.model:22} "
            f"{(row.commit_id or '-')[:12]:12} {row.scenarios}{partial}"
        )


def _trend(store: HistoryStore, args: argparse.Namespace) -> int:
    runs = store.runs()
    target = args.target or next((r.target_key for r in reversed(runs)), "")
    model = args.model or next((r.model for r in reversed(runs) if r.target_key == target), "")
    points = store.series(target, model, args.scenario, args.metric, args.last)
    if not points:
        print(f"no runs of {args.scenario} {args.metric} for target {target}, model {model}", file=sys.stderr)
        return 2
    found = {c.index: c for c in change_points([p.centre for p in points])}
    print(f"{args.scenario} {args.metric} ({target}, {model}), centre of each run:")
    for index, point in enumerate(points):
        mark = f"  <- change {found[index].change:+.1%}" if index in found else ""
        print(
            f"{point.number:>5}  {point.run_id:24} {point.started:25} {format_metric(point.centre, args.metric)}{mark}"
        )
    note, _ = shift_note(points, args.metric)
    if note:
        print(f"shifted {note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    raw = args.db or os.environ.get("CEREBRAS_PERF_HISTORY")
    cwd = Path.cwd()
    try:
        url = history_url(raw, baseline_dir=cwd / "baselines", root=cwd, source="--db")
        if url is None:
            print("--db none: no history to read", file=sys.stderr)
            return 2
        with HistoryStore.open(url) as store:
            if args.command == "list":
                _list(store, args.last)
            elif args.command == "show":
                run = store.run(args.run)
                if run is None:
                    print(f"no run {args.run!r} in {store.where}", file=sys.stderr)
                    return 2
                print(redact(json.dumps(run, indent=2, default=str)))
            elif args.command == "trend":
                return _trend(store, args)
            elif args.command == "export":
                with args.csv_path.open("w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
                    writer.writeheader()
                    writer.writerows(store.summary_rows())
                print(f"exported to {args.csv_path}")
            elif args.command == "prune":
                print(f"deleted {store.prune(args.keep)} runs, kept the newest {args.keep}")
    except (HistoryError, LocationError, OSError) as exc:
        print(redact(f"history: {exc}"), file=sys.stderr)
        return 2
    return 0
