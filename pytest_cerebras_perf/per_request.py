"""Every measured request as one CSV row (``--perf-csv``) or one JSON line (``--perf-jsonl``).

Both are views of the results JSON, not a second definition: a line is a scenario run's sample
exactly as the results file has it, preceded by which run it belongs to (``scenario``, the
``<name>@c<concurrency>`` id, ``name``, ``concurrency``, ``index``); a CSV row flattens the same
object, nested keys joined with a dot (``server.queue_time``, ``usage.completion_tokens``,
``error.kind``), lists as JSON text, missing values empty. Pandas, DuckDB or a spreadsheet read
either without knowing the plugin.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from .files import write_atomic
from .redact import redact
from .results_doc import ResultsDoc, SampleDoc


class RequestRow(SampleDoc):
    """A sample of the results document with the run it belongs to."""

    scenario: str
    name: str
    concurrency: int
    index: int


def requests(results: ResultsDoc) -> Iterator[RequestRow]:
    """The samples of every scenario run of a results document, each tagged with its run."""
    for scenario in results["scenarios"]:
        for index, sample in enumerate(scenario["samples"]):
            yield {
                "scenario": scenario["id"],
                "name": scenario["name"],
                "concurrency": scenario["concurrency"],
                "index": index,
                **sample,
            }


def flatten(record: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """``{"server": {"queue_time": 0.1}}`` -> ``{"server.queue_time": 0.1}``; lists become JSON text."""
    flat: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def jsonl_text(results: ResultsDoc) -> str:
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in requests(results))


def csv_text(results: ResultsDoc) -> str:
    rows = [flatten(row) for row in requests(results)]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_jsonl(results: ResultsDoc, path: Path) -> Path:
    return write_atomic(path, redact(jsonl_text(results)))


def write_csv(results: ResultsDoc, path: Path) -> Path:
    return write_atomic(path, redact(csv_text(results)))
