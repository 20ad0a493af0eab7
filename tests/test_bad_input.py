"""Bad input stops the run with one line that names the file, option or field: a pytest usage or
collection error, never a traceback, and never a damaged baseline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from perf_sessions import PLUGIN

from pytest_cerebras_perf.baselines import baseline_path
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

GOOD_SCENARIOS = "scenarios:\n  short: {prompt: hi, max_completion_tokens: 8}\n"
BARE_MARKER_TEST = """
    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call):
        cerebras_call()
"""


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, str]:
    outcome = pytester.runpytest_inprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "fast", "--iterations", "2"),
        *("--perf-report", "none", "--perf-seed-results", "none"),
        *args,
    )
    text = outcome.stdout.str() + outcome.stderr.str()
    assert "Traceback" not in text
    return outcome, text


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile(BARE_MARKER_TEST)
    return pytester


@pytest.mark.parametrize(
    ("scenarios", "message"),
    [
        ("scenarios: {short: {prompt: 'hi'\n", "*scenarios.yaml:?: invalid YAML: *"),
        (
            "scenarios:\n  short:\n    description: no prompt\n",
            "*scenarios.yaml:2: scenario 'short' has no 'messages'*",
        ),
    ],
    ids=["invalid YAML", "scenario without messages"],
)
def test_a_bad_scenarios_file_is_a_collection_error_naming_file_and_line(
    pytester: pytest.Pytester, scenarios: str, message: str
) -> None:
    pytester.makefile(".yaml", scenarios=scenarios)
    pytester.makepyfile(BARE_MARKER_TEST)
    outcome, _ = run(pytester)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED  # "1 error during collection"
    outcome.stdout.fnmatch_lines([message])


def test_an_unknown_scenario_name_lists_the_known_ones(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=GOOD_SCENARIOS)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario("shrot")
        def test_latency(cerebras_call):
            cerebras_call()
    """)
    outcome, _ = run(pytester)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED
    outcome.stdout.fnmatch_lines(  # the test whose marker names it, the file searched, what it offers
        [
            "test_an_unknown_scenario_name_lists_the_known_ones.py::test_latency: */scenarios.yaml: "
            "unknown scenario 'shrot'; known: short"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--iterations", "0"), "ERROR: --iterations: must be >= 1, got 0"),
        (("--iterations", "-3"), "ERROR: --iterations: must be >= 1, got -3"),
        (("--concurrency", "1,,8"), "ERROR: --concurrency: expected a comma-separated list of whole numbers*'1,,8'"),
        (("--concurrency", "1,x"), "ERROR: --concurrency (item 'x'): expected a whole number, got 'x'"),
        (("--perf-target", "cloud"), "ERROR: --perf-target cloud: no API key; set CEREBRAS_API_KEY*"),
    ],
    ids=["iterations 0", "iterations negative", "empty concurrency item", "concurrency not a number", "cloud no key"],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    outcome, _ = run(suite, *args)
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines([message])


def test_an_unreachable_base_url_says_which_and_why(suite: pytest.Pytester) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome, _ = run(suite, "--perf-base-url", f"http://127.0.0.1:{port}", "--perf-timeout", "3")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        [f"ERROR: --perf-base-url http://127.0.0.1:{port}: cannot reach it: Connection refused"]
    )


def test_an_unknown_model_lists_the_served_ones(suite: pytest.Pytester) -> None:
    outcome, _ = run(suite, "--model", "nope")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(["ERROR: --model nope: unknown at http://127.0.0.1:*; it serves: llama-3.3-70b, *"])


EMULATOR_BASELINE = ("emulator", "llama-3.3-70b")


def emulator_baseline(root: Path) -> Path:
    key = Endpoint("emulator", "http://127.0.0.1:1", Secret("unused"), "fast").key
    return baseline_path(root / "baselines", key, EMULATOR_BASELINE[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"schema": "cerebras-perf-baseline/1", "target": {"kind": "emul',
            "ERROR: *llama-3.3-70b.json: corrupt or truncated baseline file (*); restore it from version control*",
        ),
        (
            '{"schema": "cerebras-perf-baseline/1", "target": {}, "model": "llama-3.3-70b", "scenarios": []}',
            "ERROR: *llama-3.3-70b.json: corrupt baseline file (scenarios should be dict, found list)",
        ),
        (
            json.dumps({"schema": "cerebras-perf-baseline/99", "target": {}, "model": "x", "scenarios": {}}),
            "ERROR: *llama-3.3-70b.json was written by schema cerebras-perf-baseline/99; *upgrade pytest-cerebras-perf",
        ),
    ],
    ids=["truncated", "wrong shape", "newer schema"],
)
def test_an_unusable_baseline_stops_the_run_and_is_kept_byte_for_byte(
    suite: pytest.Pytester, text: str, message: str
) -> None:
    baseline = emulator_baseline(suite.path)
    baseline.parent.mkdir(parents=True)
    baseline.write_text(text)
    outcome, _ = run(suite, "--perf-baseline-dir", str(suite.path / "baselines"), "--perf-save")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines([message])
    assert baseline.read_text() == text
    assert sorted(p.name for p in baseline.parent.iterdir()) == [baseline.name]  # no stray temp file either
