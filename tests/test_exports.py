"""The study-format files and the pytest-benchmark export, checked against the real readers."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from present import present
from pytest_benchmark.stats import Stats
from results_factory import MARKUP_SCENARIO, make_results

from pytest_cerebras_perf.exports import (
    LATENCY_METRICS,
    benchmark_json,
    seed_results,
    write_benchmark_json,
    write_seed_files,
)
from pytest_cerebras_perf.results_doc import ResultsDoc

STUDY_SERVER_KEYS = {"prompt_time", "completion_time", "queue_time", "total_server_time", "server_throughput"}
STUDY_CLIENT_KEYS = {"time_to_first_token", "total_time_per_request", "output_speed"}
STUDY_TOKEN_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}


#: pytest-benchmark's Stats is unannotated; one typed handle keeps strict mypy quiet (as exports.py does)
new_stats: Callable[[], Any] = Stats


def as_read(document: object) -> Any:
    """The export as a JSON reader of the written file sees it."""
    return json.loads(json.dumps(document))


def _with_std(keys: set[str]) -> set[str]:
    return keys | {f"{key}_std" for key in keys}


@pytest.fixture(scope="module")
def results() -> ResultsDoc:
    return make_results(iterations=6, concurrency=(1, 4))


def test_seed_file_has_the_study_layout(results: ResultsDoc) -> None:
    seed = as_read(seed_results(results, 1))
    assert set(seed) == {"timestamp", "concurrency", "model", "num_iterations", "results", "comparison"}
    assert (seed["timestamp"], seed["concurrency"], seed["model"], seed["num_iterations"]) == (
        "20250301_164629",
        1,
        "llama-3.3-70b",
        6,
    )
    assert [entry["prompt"] for entry in seed["results"]] == [
        s["name"] for s in results["scenarios"] if s["concurrency"] == 1
    ]
    for entry in seed["results"]:
        assert set(entry["server_metrics"]) == _with_std(STUDY_SERVER_KEYS)
        assert set(entry["client_metrics"]) == _with_std(STUDY_CLIENT_KEYS)
        assert set(entry["token_usage"]) == _with_std(STUDY_TOKEN_KEYS)
    for comparison in seed["comparison"].values():
        assert set(comparison["server_vs_client_latency"]) == _with_std(
            {"server_time", "client_time", "network_overhead", "overhead_percentage"}
        )
        assert set(comparison["server_vs_client_throughput"]) == _with_std(
            {"server_throughput", "client_throughput", "difference", "difference_percentage"}
        )


def test_seed_values_are_means_and_stds_over_successful_requests(results: ResultsDoc) -> None:
    scenario = next(s for s in results["scenarios"] if any(not x["ok"] for x in s["samples"]))
    ok = [s for s in scenario["samples"] if s["ok"]]
    seed = as_read(seed_results(results, scenario["concurrency"]))
    entry = next(e for e in seed["results"] if e["prompt"] == scenario["name"])
    ttft = [present(s["ttft"]) for s in ok]
    assert entry["client_metrics"]["time_to_first_token"] == pytest.approx(statistics.mean(ttft))
    assert entry["client_metrics"]["time_to_first_token_std"] == pytest.approx(statistics.stdev(ttft))
    totals = [present(present(s["usage"])["total_tokens"]) for s in ok]
    assert entry["token_usage"]["total_tokens"] == pytest.approx(statistics.mean(totals))
    server = statistics.mean(present(s["server"]["total_time"]) for s in ok)
    client = statistics.mean(present(s["e2e"]) for s in ok)
    latency = seed["comparison"][scenario["name"]]["server_vs_client_latency"]
    assert latency["network_overhead"] == pytest.approx(client - server)
    assert latency["overhead_percentage"] == pytest.approx((client - server) / server * 100)


def test_unreported_server_times_are_null_not_zero(results: ResultsDoc) -> None:
    entry = next(e for e in as_read(seed_results(results, 1))["results"] if e["prompt"] == MARKUP_SCENARIO)
    assert all(value is None for value in entry["server_metrics"].values())
    assert entry["client_metrics"]["time_to_first_token"] is not None
    comparison = as_read(seed_results(results, 1))["comparison"][MARKUP_SCENARIO]["server_vs_client_latency"]
    assert comparison["server_time"] is None and comparison["overhead_percentage"] is None


def test_one_seed_file_per_concurrency_named_like_the_study(tmp_path: Path, results: ResultsDoc) -> None:
    paths = write_seed_files(results, tmp_path / "results")
    assert [p.name for p in paths] == [
        "benchmark_results_llama-3.3-70b_concurrency_1_iterations_6_20250301_164629.json",
        "benchmark_results_llama-3.3-70b_concurrency_4_iterations_6_20250301_164629.json",
    ]
    assert json.loads(paths[1].read_text(encoding="utf-8")) == as_read(seed_results(results, 4))


def test_benchmark_export_has_one_entry_per_scenario_and_latency_metric(results: ResultsDoc) -> None:
    exported = as_read(benchmark_json(results))
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(exported)
    benchmarks = exported["benchmarks"]
    assert {b["group"] for b in benchmarks} == set(LATENCY_METRICS)
    assert len({b["fullname"] for b in benchmarks}) == len(benchmarks)
    first = next(b for b in benchmarks if b["param"] == "short_input_short_output@c1-ttft")
    assert first["name"] == "test_latency[short_input_short_output@c1-ttft]"
    assert first["fullname"] == "perf_tests/test_scenarios.py::test_latency[short_input_short_output@c1-ttft]"
    reference = new_stats()
    for sample in results["scenarios"][0]["samples"]:
        reference.update(sample["ttft"])
    assert first["stats"] == {**reference.as_dict(), "data": reference.data, "iterations": 1}
    # No server latency for an endpoint that does not report it: no entry rather than zeros.
    assert not [b for b in benchmarks if b["params"]["scenario"] == MARKUP_SCENARIO and b["group"] == "server_total"]
    assert exported["commit_info"]["id"] == present(results["run"]["commit"])["id"]


def _pytest_benchmark(storage: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The CLI builds a pytest Config, which loads every installed pytest plugin; autoload is off so
    # the check is about our file, not about whatever else is installed next to pytest-benchmark.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    executable = Path(sys.executable).with_name("pytest-benchmark")
    return subprocess.run(
        [str(executable), "--storage", f"file://{storage}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=storage,
        env=env,
    )


def test_pytest_benchmark_compare_and_list_read_the_export(tmp_path: Path, results: ResultsDoc) -> None:
    storage = tmp_path / "storage"
    exported = write_benchmark_json(results, storage / "0001_perf.json")
    compared = _pytest_benchmark(storage, "compare", "--group-by=group", str(exported))
    assert compared.returncode == 0, compared.stderr
    for metric in LATENCY_METRICS:
        assert f"benchmark '{metric}':" in compared.stdout
    assert "test_latency[short_input_short_output@c1-ttft]" in compared.stdout
    listed = _pytest_benchmark(storage, "list")
    assert listed.returncode == 0, listed.stderr
    assert str(exported) in listed.stdout
