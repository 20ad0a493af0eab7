"""Reading a results JSON back for the report, with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

from pytest_cerebras_perf.results_doc import ResultsDoc, ResultsFormatError, load


class ResultsFileError(ValueError):
    """A results file that cannot be reported on; the message is one line and names the file."""


def load_results(path: Path) -> ResultsDoc:
    """The results document in ``path``, validated against the schema (older versions upgraded)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ResultsFileError(f"{path}: cannot read: {reason}") from None
    try:
        return load(text)
    except ResultsFormatError as error:
        raise ResultsFileError(f"{path}: {error}") from None
