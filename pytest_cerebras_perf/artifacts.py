"""Every file a session leaves behind, written once at the end (also after Ctrl-C or a quota stop)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .exports import write_benchmark_json, write_seed_files
from .per_request import write_csv, write_jsonl
from .redact import redact
from .report import write_report
from .report.markdown import append_step_summary
from .results import build_results, write_results
from .session import PerfSession, now_iso


def write_all(perf: PerfSession, *, argv: Sequence[str]) -> dict[str, Path]:
    """Results JSON first (the record of truth), then the views of it, then baselines if asked."""
    settings = perf.settings
    written: dict[str, Path] = {}
    if not perf.records:
        return written
    results = build_results(perf, finished=now_iso(), argv=argv)
    json_path = settings.json_path or perf.root / "perf-results" / f"results-{perf.run_id}.json"
    written["results"] = write_results(results, json_path)
    if settings.report_path is not None:
        written["report"] = write_report(results, settings.report_path)
    if settings.seed_results_dir is not None:
        for index, seed_file in enumerate(write_seed_files(results, settings.seed_results_dir)):
            written[f"study results {index + 1}"] = seed_file
    if settings.benchmark_json is not None:
        written["pytest-benchmark json"] = write_benchmark_json(results, settings.benchmark_json)
    if settings.csv_path is not None:
        written["requests csv"] = write_csv(results, settings.csv_path)
    if settings.jsonl_path is not None:
        written["requests jsonl"] = write_jsonl(results, settings.jsonl_path)
    if append_step_summary(results, os.environ):
        written["GitHub step summary"] = Path(os.environ["GITHUB_STEP_SUMMARY"])
    if settings.save:
        baseline, notes = perf.save_baselines()
        perf.notes.extend(redact(note) for note in notes)
        if baseline is not None:
            written["baseline"] = baseline
    return written
