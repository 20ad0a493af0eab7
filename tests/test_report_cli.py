"""``python -m pytest_cerebras_perf.report``: regenerate a report from a results file, fail cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from results_factory import make_results

from pytest_cerebras_perf.report.__main__ import main
from pytest_cerebras_perf.results_doc import dump


def _results_file(tmp_path: Path) -> Path:
    path = tmp_path / "results-run.json"
    path.write_text(dump(make_results(iterations=4)), encoding="utf-8")
    return path


def _report_module(source: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_cerebras_perf.report SOURCE``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_cerebras_perf.report", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_module_regenerates_the_report_next_to_the_json(tmp_path: Path) -> None:
    source = _results_file(tmp_path)
    done = _report_module(source)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "results-run.html"
    assert done.stdout.strip() == str(report)
    assert 'data-figure="distributions"' in report.read_text(encoding="utf-8")


def test_output_option_chooses_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "report.html"
    assert main([str(_results_file(tmp_path)), "-o", str(target)]) == 0
    assert target.exists()
    assert capsys.readouterr().out.strip() == str(target)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON (line 1, column 2"),
        ("[1, 2]", "expected a JSON object, found list"),
        ('{"schema": "something-else/2", "scenarios": []}', "schema is 'something-else/2'"),
        ('{"schema": "something-else/2", "scenarios": []}', "expected one of 'cerebras-perf-results/1'"),
        ('{"schema": "cerebras-perf-results/2"}', "run: Field required (and 3 more)"),
        ('{"schema": "cerebras-perf-results/1", "run": {}}', "run.id: Field required"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    source = tmp_path / "bad.json"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    assert main([str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(source) in err and expected in err
    assert not (tmp_path / "bad.html").exists()


def test_bad_input_from_the_command_line_has_no_traceback(tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text("{", encoding="utf-8")
    done = _report_module(source)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    reason = "not valid JSON (line 1, column 2: Expecting property name enclosed in double quotes)"
    assert done.stderr.strip().splitlines() == [f"error: {source}: {reason}"]
