"""More bad input, each one line naming the file, option or field: includes outside the scenarios
folder, files that are not UTF-8, non-finite request fields, impossible baseline values, a bad port.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input import BARE_MARKER_TEST, GOOD_SCENARIOS, emulator_baseline, run

from pytest_cerebras_perf.baselines import BaselineRun, load_baseline, save_runs

INCLUDE_SCENARIOS = "scenarios:\n  short:\n    prompt: 'Summarise: {{{{file: {path}}}}}'\n"


@pytest.mark.parametrize(
    "path", ["../../../../../../etc/passwd", "/proc/self/environ", "escape.txt"], ids=["dotdot", "absolute", "symlink"]
)
def test_an_include_outside_the_scenarios_folder_is_refused(pytester: pytest.Pytester, path: str) -> None:
    (pytester.path / "escape.txt").symlink_to("/etc/passwd")
    pytester.makefile(".yaml", scenarios=INCLUDE_SCENARIOS.format(path=path))
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, text = run(pytester)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED
    outcome.stdout.fnmatch_lines(
        [f"*scenarios.yaml:2: included file '{path}' is outside *; includes must stay in that folder's tree"]
    )
    assert "root:" not in text


def test_an_include_inside_the_folder_tree_is_read(pytester: pytest.Pytester) -> None:
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "doc.txt").write_text("the included text\n")
    pytester.makefile(".yaml", scenarios=INCLUDE_SCENARIOS.format(path="data/../data/doc.txt"))
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester, "--perf-json", "results.json")
    outcome.assert_outcomes(passed=1)
    assert (
        "Summarise: the included text"
        in json.loads((pytester.path / "results.json").read_text())["scenarios"][0]["prompt"]
    )


@pytest.mark.parametrize("which", ["scenarios file", "include"])
def test_a_file_that_is_not_utf8_is_one_line_naming_it(pytester: pytest.Pytester, which: str) -> None:
    latin1 = "scenarios:\n  short: {prompt: 'caf\xe9', max_completion_tokens: 8}\n".encode("latin-1")
    if which == "include":
        (pytester.path / "doc.txt").write_bytes(latin1)
        pytester.makefile(".yaml", scenarios=INCLUDE_SCENARIOS.format(path="doc.txt"))
        message = "*scenarios.yaml:2: included file 'doc.txt' is not UTF-8 text (byte 33)"
    else:
        (pytester.path / "scenarios.yaml").write_bytes(latin1)
        message = "*scenarios.yaml: the scenarios file is not UTF-8 text (byte 33)"
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED
    outcome.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("field", "name"), [("temperature: .nan", "temperature"), ("extra_body: {top_p: .inf}", "extra_body.top_p")]
)
def test_a_non_finite_request_field_is_refused_at_load(pytester: pytest.Pytester, field: str, name: str) -> None:
    pytester.makefile(".yaml", scenarios=f"scenarios:\n  short:\n    prompt: hi\n    {field}\n")
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED
    outcome.stdout.fnmatch_lines([f"*scenarios.yaml:2: scenario 'short': field '{name}' must be a finite number*"])


def test_a_base_url_with_an_empty_port_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester, "--perf-base-url", "http://127.0.0.1:")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(["ERROR: --perf-base-url: the port after ':' is missing or not a port number*"])


def test_the_emulator_refuses_an_impossible_port_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_cerebras_perf.emulator", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].endswith("error: argument --port: '99999' is not a TCP port (0-65535)")


def _saved_baseline(root: Path) -> tuple[Path, dict[str, object]]:
    path = emulator_baseline(root)
    run_ = BaselineRun("r1", "2026-01-01T00:00:00+00:00", None, 2, {"ttft": [0.01, 0.02]}, 0.0)
    target = {"kind": "emulator", "key": "emulator"}
    save_runs(path, target=target, model="llama-3.3-70b", runs={"short@c1": run_}, tolerances={})
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("error_rate", 7.5, "error_rate should be between 0 and 1, found 7.5"),
        ("ttft", -0.5, "samples.ttft[0] should be between 0 and 86400, found -0.5"),
        ("e2e", 1e308, "samples.e2e[0] should be between 0 and 86400, found 1e+308"),
    ],
)
def test_an_impossible_baseline_value_is_one_line_naming_file_and_field(
    pytester: pytest.Pytester, field: str, value: float, message: str
) -> None:
    path, document = _saved_baseline(pytester.path)
    stored = document["scenarios"]["short@c1"]["runs"][0]  # type: ignore[index]
    if field == "error_rate":
        stored["error_rate"] = value
    else:
        stored["samples"][field] = [value]
    path.write_text(json.dumps(document))
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester, "--perf-baseline-dir", str(pytester.path / "baselines"))
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines([f"ERROR: {path}: corrupt baseline file (scenarios.short@c1.runs[0].{message})"])


def test_a_scenario_whose_runs_were_emptied_has_no_baseline_and_can_be_saved_again(pytester: pytest.Pytester) -> None:
    path, document = _saved_baseline(pytester.path)
    document["scenarios"]["short@c1"]["runs"] = []  # type: ignore[index]
    path.write_text(json.dumps(document))
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(
        pytester, "--perf-baseline-dir", str(pytester.path / "baselines"), "--perf-save", "--perf-json", "results.json"
    )
    outcome.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "results.json").read_text())["scenarios"][0]["baseline"] is None
    saved = load_baseline(path, target={"kind": "emulator", "key": "emulator"}, model="llama-3.3-70b")
    assert saved is not None and len(saved.scenarios["short@c1"].runs) == 1


def test_a_second_test_measuring_the_same_run_fails_naming_both(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile(
        test_one=BARE_MARKER_TEST,
        test_two="""
            import pytest

            @pytest.mark.scenario("short")
            def test_again(cerebras_call):
                cerebras_call()

            @pytest.mark.scenario("short")
            def test_answer_only(cerebras_call):
                assert cerebras_call.once().ok  # one request, no run: no clash
        """,
    )
    outcome, _ = run(pytester, "-p", "no:randomly", "--perf-json", "results.json")
    outcome.assert_outcomes(passed=2, failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*test_two.py::test_again*: test_one.py::test_latency?short? already measured short@c1: "
            "this run would replace it*"
        ]
    )
    results = json.loads((pytester.path / "results.json").read_text())
    assert [s["nodeid"] for s in results["scenarios"]] == ["test_one.py::test_latency[short]"]
