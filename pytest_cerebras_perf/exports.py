"""Views of the results dict for tools written against other formats.

- The original Cerebras study's ``results/benchmark_results_<model>_concurrency_<c>_iterations_<n>_
  <timestamp>.json``, so scripts written for those files (its ``plots.py`` among them) keep working.
  Key names are the study's own (``total_server_time``, ``server_throughput``,
  ``total_time_per_request``...), each with a ``_std`` sibling; means over successful requests,
  ``null`` where the endpoint did not report a value (the study would have crashed there).
- pytest-benchmark's JSON, one entry per (test, latency metric in seconds), so that
  ``pytest-benchmark compare --group-by=group FILE`` and ``pytest-benchmark list`` read our latencies.
  The statistics come from pytest-benchmark's own ``Stats`` so its quartile rules apply unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest_benchmark
from pytest_benchmark import stats as benchmark_stats

from pytest_cerebras_perf.files import write_atomic
from pytest_cerebras_perf.metrics import METRICS, sample_metric_from_json
from pytest_cerebras_perf.results_doc import ResultsDoc, RunDoc, SampleDoc, ScenarioEntry
from pytest_cerebras_perf.stats import summarize

SEED_SERVER_METRICS = {
    "prompt_time": "server_prompt",
    "completion_time": "server_completion",
    "queue_time": "server_queue",
    "total_server_time": "server_total",
    "server_throughput": "server_output_tps",
}
SEED_CLIENT_METRICS = {
    "time_to_first_token": "ttft",
    "total_time_per_request": "e2e",
    "output_speed": "output_tps",
}
SEED_TOKENS = ("prompt_tokens", "completion_tokens")
LATENCY_METRICS = tuple(name for name, spec in METRICS.items() if spec.unit == "s")

# pytest-benchmark ships py.typed without annotations; one typed handle keeps strict mypy quiet.
_new_stats: Callable[[], Any] = benchmark_stats.Stats

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# -- the original study's file --------------------------------------------------------------------


def _total_tokens(sample: SampleDoc) -> float | None:
    usage = sample["usage"]
    total = usage["total_tokens"] if sample["ok"] and usage is not None else None
    return None if total is None else float(total)


def _mean_std(
    samples: Sequence[SampleDoc], read: Callable[[SampleDoc], float | None]
) -> tuple[float | None, float | None]:
    summary = summarize([v for v in map(read, samples) if v is not None])
    return (None, None) if summary is None else (summary.mean, summary.std)


def _block(
    samples: Sequence[SampleDoc], readers: Mapping[str, Callable[[SampleDoc], float | None]]
) -> dict[str, float | None]:
    """``{key: mean, key_std: std}`` for each reader, in the study's key order."""
    block: dict[str, float | None] = {}
    for key, read in readers.items():
        block[key], block[f"{key}_std"] = _mean_std(samples, read)
    return block


def _metric(metric: str) -> Callable[[SampleDoc], float | None]:
    return lambda sample: sample_metric_from_json(sample, metric)


def _difference(a: str, b: str, *, relative: bool = False) -> Callable[[SampleDoc], float | None]:
    """Per-sample ``a - b`` (or ``(a - b) / a * 100``), for the spread of the study's comparisons."""

    def read(sample: SampleDoc) -> float | None:
        first, second = sample_metric_from_json(sample, a), sample_metric_from_json(sample, b)
        if first is None or second is None or (relative and first == 0):
            return None
        return (first - second) / first * 100.0 if relative else first - second

    return read


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole * 100.0


def _comparison(samples: Sequence[SampleDoc]) -> dict[str, dict[str, float | None]]:
    server_time, server_time_std = _mean_std(samples, _metric("server_total"))
    client_time, client_time_std = _mean_std(samples, _metric("e2e"))
    overhead = None if server_time is None or client_time is None else client_time - server_time
    server_tps, server_tps_std = _mean_std(samples, _metric("server_output_tps"))
    client_tps, client_tps_std = _mean_std(samples, _metric("output_tps"))
    difference = None if server_tps is None or client_tps is None else server_tps - client_tps
    return {
        "server_vs_client_latency": {
            "server_time": server_time,
            "server_time_std": server_time_std,
            "client_time": client_time,
            "client_time_std": client_time_std,
            "network_overhead": overhead,
            "network_overhead_std": _mean_std(samples, _metric("network_overhead"))[1],
            "overhead_percentage": _share(overhead, server_time),
            "overhead_percentage_std": _mean_std(samples, _metric("network_overhead_pct"))[1],
        },
        "server_vs_client_throughput": {
            "server_throughput": server_tps,
            "server_throughput_std": server_tps_std,
            "client_throughput": client_tps,
            "client_throughput_std": client_tps_std,
            "difference": difference,
            "difference_std": _mean_std(samples, _difference("server_output_tps", "output_tps"))[1],
            "difference_percentage": _share(difference, server_tps),
            "difference_percentage_std": _mean_std(
                samples, _difference("server_output_tps", "output_tps", relative=True)
            )[1],
        },
    }


def _timestamp(results: ResultsDoc) -> str:
    """The study's ``%Y%m%d_%H%M%S`` stamp of when the run started."""
    started = results["run"]["started"]
    try:
        return datetime.fromisoformat(started.replace("Z", "+00:00")).strftime("%Y%m%d_%H%M%S")
    except ValueError:
        return "00000000_000000"


def seed_results(results: ResultsDoc, concurrency: int) -> dict[str, object]:
    """The study's summary file for one concurrency level, built from the raw samples."""
    scenarios = [s for s in results["scenarios"] if s["concurrency"] == concurrency]
    entries: list[dict[str, object]] = []
    comparison: dict[str, object] = {}
    for scenario in scenarios:
        samples = scenario["samples"]
        tokens = {**{key: _metric(key) for key in SEED_TOKENS}, "total_tokens": _total_tokens}
        entries.append(
            {
                "prompt": scenario["name"],
                "server_metrics": _block(samples, {k: _metric(m) for k, m in SEED_SERVER_METRICS.items()}),
                "client_metrics": _block(samples, {k: _metric(m) for k, m in SEED_CLIENT_METRICS.items()}),
                "token_usage": _block(samples, tokens),
            }
        )
        comparison[scenario["name"]] = _comparison(samples)
    return {
        "timestamp": _timestamp(results),
        "concurrency": concurrency,
        "model": results["target"]["model"],
        "num_iterations": results["settings"]["iterations"],
        "results": entries,
        "comparison": comparison,
    }


def seed_file_name(results: ResultsDoc, concurrency: int) -> str:
    model = _UNSAFE_IN_NAME.sub("-", results["target"]["model"] or "model")
    iterations = results["settings"]["iterations"]
    return f"benchmark_results_{model}_concurrency_{concurrency}_iterations_{iterations}_{_timestamp(results)}.json"


def write_seed_files(results: ResultsDoc, directory: Path) -> list[Path]:
    """One study-format file per concurrency level that ran, in ``directory``."""
    levels = sorted({s["concurrency"] for s in results["scenarios"]})
    return [
        write_atomic(
            Path(directory) / seed_file_name(results, level), json.dumps(seed_results(results, level), indent=2) + "\n"
        )
        for level in levels
    ]


# -- pytest-benchmark ------------------------------------------------------------------------------


def _names(scenario: ScenarioEntry, metric: str) -> tuple[str, str, str]:
    """(param, name, fullname) in pytest's parametrized style, unique per scenario × concurrency × metric.

    ``perf_tests/test_x.py::test_latency[short]`` -> ``test_latency[short@c1-ttft]``; the scenario id
    is used instead of the node's own parameters because one node may run several concurrency levels.
    """
    function = (scenario["nodeid"] or scenario["id"]).split("[", 1)[0]
    param = f"{scenario['id']}-{metric}"
    return param, f"{function.rsplit('::', 1)[-1]}[{param}]", f"{function}[{param}]"


def _entry(results: ResultsDoc, scenario: ScenarioEntry, metric: str, values: Sequence[float]) -> dict[str, object]:
    stats = _new_stats()
    for value in values:
        stats.update(value)
    param, name, fullname = _names(scenario, metric)
    target = results["target"]
    return {
        "group": metric,
        "name": name,
        "fullname": fullname,
        "params": {"scenario": scenario["name"], "concurrency": scenario["concurrency"], "metric": metric},
        "param": param,
        "extra_info": {
            "scenario": scenario["id"],
            "metric": metric,
            "label": METRICS[metric].label,
            "unit": "s",
            "target": target["kind"],
            "model": target["model"],
        },
        "options": {
            "disable_gc": False,
            "timer": "perf_counter_ns",
            "min_rounds": len(values),
            "max_time": None,
            "min_time": None,
            "warmup": results["settings"]["warmup"],
        },
        "stats": {**stats.as_dict(), "data": list(values), "iterations": 1},
    }


def _commit_info(run: RunDoc) -> dict[str, object]:
    """pytest-benchmark's commit_info keys, filled from the run's commit where it has them."""
    defaults: dict[str, object] = {
        "id": "unknown",
        "time": None,
        "author_time": None,
        "dirty": False,
        "project": None,
        "branch": "(unknown)",
    }
    return {**defaults, **(run["commit"] or {})}


def benchmark_json(results: ResultsDoc) -> dict[str, object]:
    """pytest-benchmark's saved-run format with one benchmark per (scenario run, latency metric).

    ``machine_info`` describes what was measured — the target and the client's Python — since the
    machine that matters for an inference benchmark is the endpoint, not the runner.
    """
    run, target = results["run"], results["target"]
    benchmarks = []
    for scenario in results["scenarios"]:
        for metric in LATENCY_METRICS:
            values = [v for v in (sample_metric_from_json(s, metric) for s in scenario["samples"]) if v is not None]
            if values:
                benchmarks.append(_entry(results, scenario, metric, values))
    return {
        "machine_info": {
            "node": target["base_url"],
            "target_kind": target["kind"],
            "model": target["model"],
            "python_version": run["python"],
            "system": run.get("platform"),
        },
        "commit_info": _commit_info(run),
        "benchmarks": benchmarks,
        "datetime": run["finished"] or run["started"],
        "version": pytest_benchmark.__version__,
    }


def write_benchmark_json(results: ResultsDoc, path: Path) -> Path:
    return write_atomic(Path(path), json.dumps(benchmark_json(results), indent=2) + "\n")
