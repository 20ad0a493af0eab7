"""Append a finished session to the history and read back its trends: one call from artifacts.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..results_doc import HistoryDoc, ResultsDoc
from .entries import run_entry
from .store import HistoryStore
from .trends import history_section


def record_run(
    url: str, results: ResultsDoc, *, metrics: Sequence[str], accepted: Mapping[str, Iterable[str]]
) -> HistoryDoc:
    """Append the run of ``results``; its trends (the results document's ``history`` section)."""
    entry = run_entry(results)
    with HistoryStore.open(url) as store:
        number = store.append(entry)
        return history_section(store, entry, number, metrics, accepted)
