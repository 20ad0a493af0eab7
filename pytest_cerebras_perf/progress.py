"""Live progress of a measuring test: requests done / planned, errors, elapsed, ETA.

A perf test runs for seconds to minutes while pytest captures its output, so progress goes to
pytest's terminal writer with capturing suspended for the write: a person sees it without ``-s``,
and it never lands in a failing test's "Captured stdout". On a terminal one line is rewritten a
few times a second (its last state stays); in a CI log (no TTY) a line is written every
``--perf-progress`` seconds; ``-q`` silences it. The counts come from
:attr:`load.LoadResult.completed` / ``failed``, which the load loop bumps as requests finish:
nothing is parsed to show them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from . import distributed

if TYPE_CHECKING:
    from .session import PerfSession

T = TypeVar("T")
TTY_REFRESH = 0.25  # seconds between in-place updates on a terminal


def progress_line(run_id: str, completed: int, failed: int, planned: int, elapsed: float) -> str:
    """``short@c1: 4/10 requests, 0 errors, 2.1 s elapsed, ETA 3.2 s`` (no ETA before a request ends)."""
    eta = f", ETA {elapsed / completed * max(0, planned - completed):.1f} s" if completed else ""
    return f"    {run_id}: {completed}/{planned} requests, {failed} errors, {elapsed:.1f} s elapsed{eta}"


class _Writer:
    """Writes progress lines with pytest's capturing suspended; thread-safe against :meth:`close`."""

    def __init__(self, reporter: Any, capture: Any, tty: bool, start_dir: Path) -> None:
        self._reporter, self._capture, self._tty, self._start_dir = reporter, capture, tty, start_dir
        self._lock = threading.Lock()
        self._closed = False
        self._started = False
        self._file_line: object = None  # the test file pytest was writing result letters after

    def show(self, line: str) -> None:
        with self._lock:
            if self._closed:
                return
            with self._suspended():
                if not self._started:
                    self._file_line = self._reporter.currentfspath
                    self._reporter.ensure_newline()  # leave pytest's "path.py ..." line alone
                    self._started = True
                if self._tty:
                    self._reporter.rewrite(line, erase=True)
                else:
                    self._reporter.write_line(line)

    def close(self) -> None:
        """No line after this returns: the test's own capturing is back in charge. The test file's
        name is written again, so pytest's result letter has its file in front of it."""
        with self._lock:
            self._closed = True
            if not self._started:
                return
            with self._suspended():
                if self._tty:
                    self._reporter.write("\n")  # the last state stays; pytest's column count restarts
                if isinstance(self._file_line, Path):
                    self._reporter.write(f"{os.path.relpath(self._file_line, self._start_dir)} ")
                    self._reporter.currentfspath = self._file_line

    def _suspended(self) -> Any:
        return self._capture.global_and_fixture_disabled() if self._capture else contextlib.nullcontext()


def track(config: pytest.Config, perf: PerfSession, work: Callable[[], T]) -> T:
    """Run ``work`` (one ``perf.measure``) while a thread shows the progress of the record it adds."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    tty = bool(getattr(reporter, "isatty", False))
    interval = TTY_REFRESH if tty else perf.settings.progress_every
    if reporter is None or config.get_verbosity() < 0 or interval <= 0 or distributed.is_worker(config):
        return work()  # a pytest-xdist worker's output goes nowhere a person sees
    writer = _Writer(reporter, config.pluginmanager.get_plugin("capturemanager"), tty, config.invocation_params.dir)
    first = len(perf.records)  # the record ``work`` appends
    started = time.monotonic()
    done = threading.Event()

    def report() -> None:
        while not done.wait(interval):
            if len(perf.records) <= first:
                continue
            record = perf.records[first]
            planned = perf.settings.iterations * record.concurrency
            result = record.result
            writer.show(progress_line(record.id, result.completed, result.failed, planned, time.monotonic() - started))

    thread = threading.Thread(target=report, name="cerebras-perf-progress", daemon=True)
    thread.start()
    try:
        return work()
    finally:
        done.set()
        writer.close()
        thread.join(timeout=1)
