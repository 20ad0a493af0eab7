"""``python -m pytest_cerebras_perf.report RESULTS.json [-o out.html]``: a report without a run.

Like the original study's ``plots.py``: regenerate the HTML from a results file, e.g. a CI artifact
downloaded later. Bad input is one line on stderr naming the file, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_cerebras_perf.report.html import write_report
from pytest_cerebras_perf.report.results_file import ResultsFileError, load_results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_cerebras_perf.report",
        description="Write the HTML report of a pytest-cerebras-perf results JSON.",
    )
    parser.add_argument("results", type=Path, help="results JSON written by a run (--perf-json)")
    parser.add_argument("-o", "--output", type=Path, help="HTML file to write (default: RESULTS with .html)")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
    except ResultsFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(write_report(results, args.output or args.results.with_suffix(".html")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
