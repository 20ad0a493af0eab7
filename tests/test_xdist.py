"""pytest-xdist: ``-n 2`` leaves what a serial run leaves, written once by the controller, and every
worker measures the one emulator the controller started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from perf_sessions import PLUGIN, session_files

SCENARIOS = """
scenarios:
  alpha: {prompt: "What is AI?", max_completion_tokens: 8, min_completion_tokens: 8}
  beta: {prompt: "What is ML?", max_completion_tokens: 12, min_completion_tokens: 12}
  gamma: {prompt: "What is RL?", max_completion_tokens: 16, min_completion_tokens: 16}
  delta: {prompt: "What is NLP?", max_completion_tokens: 20, min_completion_tokens: 20}
"""
# Each test notes which worker ran it and which endpoint it measured (tests may write files; the
# plugin's workers may not).
TEST = """
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.scenario
    def test_latency(cerebras_call, request):
        run = cerebras_call()
        assert len(run.samples) == 3
        worker = os.environ.get("PYTEST_XDIST_WORKER", "serial")
        seen = Path(os.environ["SEEN_DIR"]) / request.node.callspec.id
        seen.write_text(worker + " " + cerebras_call.perf.endpoint.base_url)
"""


def run(pytester: pytest.Pytester, out: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "fast", "--iterations", "3"),
        *session_files(out),
        "--perf-save",
        *args,
    )
    return outcome, json.loads((out / "results.json").read_text())


def strays(root: Path, *expected: Path) -> list[Path]:
    """Results, reports and baselines anywhere but in ``expected`` (hidden tool caches aside)."""
    return [
        path
        for path in root.rglob("*")
        if path.suffix in (".json", ".html")
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and not any(folder in path.parents for folder in expected)
    ]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def baseline_runs(out: Path) -> dict[str, int]:
    (baseline,) = (out / "baselines").rglob("*.json")
    return {scenario: len(entry["runs"]) for scenario, entry in json.loads(baseline.read_text())["scenarios"].items()}


def test_two_workers_leave_the_artifacts_of_a_serial_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, unhurried: tuple[str, ...]
) -> None:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    seen = pytester.mkdir("seen")
    monkeypatch.setenv("SEEN_DIR", str(seen))
    serial_out, parallel_out = pytester.path / "serial", pytester.path / "parallel"

    serial, serial_results = run(pytester, serial_out, *unhurried)
    serial.assert_outcomes(passed=4)
    parallel, parallel_results = run(pytester, parallel_out, "-n", "2", *unhurried)
    parallel.assert_outcomes(passed=4)

    def shape(results: dict[str, Any]) -> list[tuple[str, str, int, bool]]:
        return [(s["id"], s["nodeid"], len(s["samples"]), s["complete"]) for s in results["scenarios"]]

    assert shape(parallel_results) == shape(serial_results)  # same scenarios, same order, same samples
    assert parallel_results["run"]["partial"] is False
    assert files_under(parallel_out) == files_under(serial_out)  # one results file, one report, one baseline
    # A fresh baseline with exactly one run per scenario: saved once, by the controller alone.
    assert baseline_runs(parallel_out) == {f"{name}@c1": 1 for name in ("alpha", "beta", "gamma", "delta")}
    # Nothing anywhere else: no worker wrote a default-path results file or a baseline of its own.
    assert strays(pytester.path, serial_out, parallel_out) == []

    # Both workers measured, all of them the controller's one emulator, which the header says.
    workers_and_urls = [p.read_text().split() for p in seen.iterdir()]
    assert {worker for worker, _ in workers_and_urls} == {"gw0", "gw1"}
    assert {url for _, url in workers_and_urls} == {parallel_results["target"]["base_url"]}
    parallel.stdout.fnmatch_lines(["cerebras-perf: every pytest-xdist worker measures EMULATOR at http://127.0.0.1:*"])


def test_a_worker_that_cannot_start_errors_its_tests_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scenario
        def test_latency(cerebras_call):
            cerebras_call()
    """)
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("-n", "2", "--perf-emulator-profile", "fast", "--model", "nope"),
        *("--perf-report", "none", "--perf-seed-results", "none"),
    )
    outcome.assert_outcomes(errors=4)
    outcome.stdout.fnmatch_lines(["--model nope: unknown at http://127.0.0.1:*; it serves: llama-3.3-70b, *"])
    assert "Traceback" not in outcome.stdout.str() and "INTERNALERROR" not in outcome.stdout.str()
    assert strays(pytester.path) == []  # nothing measured, nothing written
