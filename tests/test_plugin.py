"""End to end through pytest itself (pytester subprocess runs) against the real emulator and SDK."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from perf_sessions import PLUGIN
from present import present

from pytest_cerebras_perf.emulator.process import EmulatorProcess
from pytest_cerebras_perf.results_doc import ResultsDoc, load

SCENARIOS = """
defaults:
  temperature: 0
scenarios:
  short:
    prompt: "What is AI?"
    max_completion_tokens: 20
    min_completion_tokens: 20
  long:
    prompt: "Write a long story about a robot."
    max_completion_tokens: 60
    min_completion_tokens: 60
"""

FAST = (*PLUGIN, "--perf-emulator-profile", "fast", "--perf-seed-results", "none", "--perf-report", "none")


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, ResultsDoc | None]:
    """The run's outcome and its results document, read back through the schema's validating load."""
    results = pytester.path / "results.json"
    outcome = pytester.runpytest_subprocess(*FAST, "--perf-json", str(results), *args)
    return outcome, (load(results.read_text()) if results.exists() else None)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    return pytester


@pytest.fixture
def long_suite(suite: pytest.Pytester) -> pytest.Pytester:
    """The suite's scenarios and one test measuring the "long" one."""
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.scenario("long")
        def test_long(cerebras_call):
            cerebras_call()
    """
    )
    return suite


def test_bare_marker_runs_every_scenario_and_writes_results(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.scenario
        def test_latency(cerebras_call):
            run = cerebras_call()
            assert run.ttft.p50 <= run.e2e.p50
            assert len(run.samples) == 3
    """
    )
    outcome, results = run(suite, "--iterations", "3", "-v")
    outcome.assert_outcomes(passed=2)
    outcome.stdout.fnmatch_lines(
        [
            "*cerebras-perf: target EMULATOR*",
            "*test_latency?short? PASSED*",
            "*test_latency?long? PASSED*",
            "*cerebras-perf summary*",
        ]
    )
    assert results is not None and results["schema"] == "cerebras-perf-results/3"
    assert results["target"]["kind"] == "emulator" and results["run"]["partial"] is False
    assert [s["id"] for s in results["scenarios"]] == ["short@c1", "long@c1"]
    for scenario in results["scenarios"]:
        assert len(scenario["samples"]) == 3
        for sample in scenario["samples"]:
            assert sample["ok"] and sample["retries"] == 0
            ttfb, ttft, e2e = present(sample["ttfb"]), present(sample["ttft"]), present(sample["e2e"])
            assert 0 < ttfb <= ttft <= e2e  # one read may carry every token
            if sample["tpot"] is None:  # no decode interval observed: both are undefined, never 0
                assert sample["output_tps"] is None and sample["ttft"] == sample["e2e"]
            else:
                assert sample["output_tps"] == pytest.approx(1 / sample["tpot"], rel=1e-9)
            assert present(sample["usage"])["completion_tokens"] == (20 if scenario["name"] == "short" else 60)
            server = sample["server"]
            queue, prompt, completion = (present(server[k]) for k in ("queue_time", "prompt_time", "completion_time"))
            assert present(server["total_time"]) >= queue + prompt + completion
            assert sample["network_overhead"] == pytest.approx(e2e - present(server["total_time"]))
        assert present(scenario["summary"]["ttft"]).n == 3
        assert scenario["aggregate"]["requests"] == 3 and scenario["aggregate"]["error_rate"] == 0


def test_named_inline_and_unknown_markers(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.scenario("long")
        def test_named(cerebras_call):
            assert cerebras_call().samples[0].completion_tokens == 60

        @pytest.mark.scenario(name="mine", prompt="hi", max_completion_tokens=7, min_completion_tokens=7)
        def test_inline(cerebras_call):
            assert cerebras_call().samples[0].completion_tokens == 7

        @pytest.mark.scenario("short")
        def test_override_and_once(cerebras_call):
            run = cerebras_call(max_completion_tokens=5, min_completion_tokens=5)
            assert {s.completion_tokens for s in run.samples} == {5}
            sample = cerebras_call.once()
            assert sample.ok and sample.completion_tokens == 20 and sample.ttft <= sample.e2e
    """
    )
    outcome, results = run(suite, "--iterations", "2", "--strict-markers", "-v")
    outcome.assert_outcomes(passed=3)
    outcome.stdout.fnmatch_lines(["*test_named?long? PASSED*", "*test_inline?mine? PASSED*"])
    assert results is not None
    assert [s["id"] for s in results["scenarios"]] == ["long@c1", "mine@c1", "short@c1"]
    assert results["scenarios"][2]["max_completion_tokens"] == 5


def test_unknown_scenario_is_a_collection_error_naming_file_and_known(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.scenario("shrot")
        def test_typo(cerebras_call):
            cerebras_call()
    """
    )
    outcome, _ = run(suite)
    assert outcome.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the session
    outcome.stdout.fnmatch_lines(["*scenarios.yaml: unknown scenario 'shrot'; known: short, long*"])
    assert "Traceback" not in outcome.stdout.str()


def test_concurrency_sweep_ids_and_aggregates(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.scenario("short")
        def test_sweep(cerebras_call):
            run = cerebras_call()
            assert run.aggregate["requests"] == len(run.samples)
    """
    )
    outcome, results = run(suite, "--iterations", "2", "--concurrency", "1,4", "-v")
    outcome.assert_outcomes(passed=2)
    outcome.stdout.fnmatch_lines(["*test_sweep?short-c1? PASSED*", "*test_sweep?short-c4? PASSED*"])
    assert results is not None
    by_id = {s["id"]: s for s in results["scenarios"]}
    assert len(by_id["short@c1"]["samples"]) == 2 and len(by_id["short@c4"]["samples"]) == 8
    assert results["settings"]["concurrency"] == [1, 4]


def test_user_file_without_conftest_and_absolute_slo_failure(pytester: pytest.Pytester) -> None:
    """A user's own folder: scenarios.yaml beside the test, no conftest, an SLO the emulator misses."""
    folder = pytester.mkdir("my_suite")
    (folder / "scenarios.yaml").write_text(SCENARIOS)
    (folder / "test_mine.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.scenario('short')\n"
        "def test_slo(cerebras_call):\n"
        "    run = cerebras_call()\n"
        "    assert run.ttft.p50 < 0.000001, 'ttft SLO'\n"
    )
    outcome, results = run(pytester, "my_suite", "--iterations", "2")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*ttft SLO*"])
    assert results is not None and len(results["scenarios"]) == 1


def test_plugin_does_nothing_to_ordinary_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    outcome, results = run(pytester)
    outcome.assert_outcomes(passed=1)
    assert results is None  # no perf test ran, so no files and no emulator
    assert not (pytester.path / "perf-results").exists()


def test_medians_match_emulator_ground_truth(long_suite: pytest.Pytester, tmp_path: Path) -> None:
    """Against a custom URL (an emulator we started, so we can read its truth log): our ttft and e2e
    medians are within 3 ms of what the server really did (acceptance 3 of the foundation issue)."""
    with EmulatorProcess() as emulator:
        url = emulator.start(profile="cerebras-llama-3.3-70b", overrides={"default_output_tokens": 60})
        outcome, results = run(long_suite, "--perf-base-url", url, "--iterations", "10", "--model", "llama-3.3-70b")
        truth = {t["request_id"]: t for t in emulator.truth()}
    outcome.assert_outcomes(passed=1)
    assert results is not None and results["target"]["kind"] == "custom"
    samples = results["scenarios"][0]["samples"]
    assert len(samples) == 10
    ttft_error, e2e_error = [], []
    for sample in samples:
        record = truth[sample["request_id"]]
        server_ttft = (record["first_token_ns"] - record["arrival_ns"]) / 1e9
        server_e2e = (record["end_ns"] - record["arrival_ns"]) / 1e9
        ttft_error.append(sample["ttft"] - server_ttft)
        e2e_error.append(sample["e2e"] - server_e2e)
    assert abs(statistics.median(ttft_error)) < 0.003, ttft_error
    assert abs(statistics.median(e2e_error)) < 0.003, e2e_error


def test_warnings_are_grouped_per_distinct_text() -> None:
    from types import SimpleNamespace

    from pytest_cerebras_perf.terminal import grouped_warnings

    records = [
        SimpleNamespace(id=f"s{i}@c1", warnings=[f"s{i}@c1: baseline runs have 20 samples, this run 10"])
        for i in range(3)
    ]
    assert grouped_warnings(records) == {  # type: ignore[arg-type]
        "baseline runs have 20 samples, this run 10": ["s0@c1", "s1@c1", "s2@c1"]
    }


def test_capacity_limited_sweep_in_results_and_report(long_suite: pytest.Pytester) -> None:
    """Continuous batching, seen end to end: per-request tok/s falls, aggregate tok/s rises."""
    report = long_suite.path / "report.html"
    outcome = long_suite.runpytest_subprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "capacity-limited", "--concurrency", "1,4,16", "--iterations", "2"),
        *("--perf-json", "results.json", "--perf-report", str(report), "--perf-seed-results", "none"),
        "--perf-no-gate",
    )
    outcome.assert_outcomes(passed=3)
    results = load((long_suite.path / "results.json").read_text())
    by_level = {s["concurrency"]: s for s in results["scenarios"]}
    per_request = [present(by_level[c]["summary"]["output_tps"]).p50 for c in (1, 4, 16)]
    aggregate = [present(by_level[c]["aggregate"]["aggregate_output_tps"]) for c in (1, 4, 16)]
    # 1 and 4 streams stay under the 8,000 tok/s budget (each at its own 2,000); 16 must share it
    assert abs(per_request[0] / per_request[1] - 1) < 0.1 and per_request[1] > 2 * per_request[2], per_request
    assert aggregate[0] < aggregate[1] < aggregate[2] * 1.05, aggregate  # 8,000 tok/s shared: 16 saturates it
    html = report.read_text()
    assert 'data-figure="concurrency"' in html  # the throughput–latency curve of a sweep
