"""Every file a session leaves behind, written once at the end (also after Ctrl-C or a quota stop).

Each file is written on its own: a read-only folder, a full disk or a value one view cannot show
costs only that file. The failure is one line naming the file, in the terminal summary and as a
warning; the tests' exit status stays what the tests decided, and an asked-for baseline save still
happens (it depends on the measurements, not on any other file).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .exports import write_benchmark_json, write_seed_files
from .per_request import write_csv, write_jsonl
from .redact import redact
from .report import write_report
from .report.markdown import append_step_summary
from .results import build_results, write_results
from .results_doc import ResultsDoc
from .session import PerfSession, now_iso

T = TypeVar("T")


class ArtifactWarning(UserWarning):
    """A file the session could not write (the others were written)."""


def write_all(perf: PerfSession, *, argv: Sequence[str]) -> dict[str, Path]:
    """Results JSON first (the record of truth), then the views of it, then baselines if asked."""
    settings = perf.settings
    written: dict[str, Path] = {}
    if not perf.records:
        return written

    def attempt(name: str, where: Path | None, write: Callable[[], T]) -> T | None:
        try:
            return write()
        except Exception as exc:  # whatever one file's failure is, it must not cost the others
            _failed(perf, f"{name} ({where})" if where is not None else name, exc)
            return None

    results = attempt("results (so no results JSON, report or export)", None, lambda: _build(perf, argv))
    if results is not None:
        json_path = settings.json_path or perf.root / "perf-results" / f"results-{perf.run_id}.json"
        views: list[tuple[str, Path | None, Callable[[], Any]]] = [
            ("results", json_path, lambda: write_results(results, json_path)),
        ]
        optional: list[tuple[str, Path | None, Callable[[Any, Path], object]]] = [
            ("report", settings.report_path, write_report),
            ("study results", settings.seed_results_dir, write_seed_files),
            ("pytest-benchmark json", settings.benchmark_json, write_benchmark_json),
            ("requests csv", settings.csv_path, write_csv),
            ("requests jsonl", settings.jsonl_path, write_jsonl),
        ]
        for name, path, writer in optional:
            if path is not None:
                views.append((name, path, functools.partial(writer, results, path)))
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            summary_path = Path(os.environ["GITHUB_STEP_SUMMARY"])
            views.append(("GitHub step summary", summary_path, lambda: append_step_summary(results) and summary_path))
        for name, where, write in views:
            done = attempt(name, where, write)
            if isinstance(done, list):
                written.update({f"{name} {index + 1}": path for index, path in enumerate(done)})
            elif isinstance(done, Path):
                written[name] = done
    if settings.save:
        saved = attempt("baseline", None, perf.save_baselines)
        if saved is not None:
            baseline, notes = saved
            perf.notes.extend(redact(note) for note in notes)
            if baseline is not None:
                written["baseline"] = baseline
    return written


def _build(perf: PerfSession, argv: Sequence[str]) -> ResultsDoc:
    return build_results(perf, finished=now_iso(), argv=argv)


def _failed(perf: PerfSession, what: str, exc: Exception) -> None:
    """One line naming the file and why, for the terminal summary and pytest's warnings summary."""
    reason = (str(exc) or type(exc).__name__).splitlines()[0]
    if not isinstance(exc, OSError):
        reason = f"{type(exc).__name__}: {reason}"
    line = redact(f"cerebras-perf: {what} NOT written: {reason}")
    perf.notes.append(line)
    warnings.warn(ArtifactWarning(line), stacklevel=1)
