"""Reading a results JSON back for the report, with one-line errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_cerebras_perf.results import SCHEMA


class ResultsFileError(ValueError):
    """A results file that cannot be reported on; the message is one line and names the file."""


def load_results(path: Path) -> dict[str, Any]:
    """The results dict in ``path``, checked to be a results document of the schema we render."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ResultsFileError(f"{path}: cannot read: {reason}") from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFileError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(results, dict):
        raise ResultsFileError(f"{path}: expected a JSON object, found {type(results).__name__}")
    if results.get("schema") != SCHEMA:
        raise ResultsFileError(f"{path}: schema is {results.get('schema')!r}, expected {SCHEMA!r}")
    if not isinstance(results.get("scenarios"), list):
        raise ResultsFileError(f"{path}: 'scenarios' is missing or not a list")
    return results
