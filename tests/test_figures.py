"""The terminal summary table and the per-request CSV/JSONL exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from results_factory import make_results

from pytest_cerebras_perf.figures import error_lines, table
from pytest_cerebras_perf.load import LoadResult, aggregate
from pytest_cerebras_perf.metrics import Sample, SampleError, ServerTimes, Timing, Usage
from pytest_cerebras_perf.per_request import csv_text, jsonl_text
from pytest_cerebras_perf.records import ScenarioRecord
from pytest_cerebras_perf.scenarios import build_scenario

MS = 1_000_000


def sample(ttft_ms: int, e2e_ms: int, *, start_ms: int = 0, tokens: int = 11) -> Sample:
    t0 = start_ms * MS
    chunks = tuple(t0 + ttft_ms * MS + i * (e2e_ms - ttft_ms) * MS // (tokens - 1) for i in range(tokens))
    return Sample(
        ok=True,
        timing=Timing(t0, t0 + ttft_ms * MS, t0 + ttft_ms * MS, t0 + e2e_ms * MS, chunks),
        usage=Usage(prompt_tokens=5, completion_tokens=tokens, total_tokens=tokens + 5),
        server=ServerTimes(0.001, 0.002, 0.003, 0.006),
    )


def record(samples: list[Sample], concurrency: int = 1, slo: dict[str, float] | None = None) -> ScenarioRecord:
    scenario = build_scenario("s", {"prompt": "hi", "slo": slo}, where="test", base=Path("."))
    result = LoadResult(samples=samples)
    return ScenarioRecord(scenario, concurrency, "t.py::t", {}, result, aggregate=aggregate(result, 1.0))


def test_percentiles_itl_and_nothing_that_does_not_apply() -> None:
    lines = table([record([sample(100 + 2 * i, 1100 + 2 * i, start_ms=2000 * i) for i in range(100)])], (50, 95, 99))
    head, row = lines
    assert "ttft p50/p95/p99 ms" in head and "e2e p50/p95/p99 ms" in head and "itl p50/p99 ms" in head
    assert "output_tps p50/p95/p99 tok/s" in head
    assert row.split()[2] == "199.0/288.1/296.0"  # ttft 100, 102 .. 298 ms: numpy's percentiles
    assert row.split()[-1] == "100.0/100.0"  # itl: 1000 ms of decode over 10 chunk gaps
    for absent in ("tok/s  req/s", "goodput", "errors"):  # one stream, no SLO, no error
        assert absent not in head
    assert error_lines([record([sample(100, 1100)])]) == []


def test_aggregates_goodput_and_errors_appear_when_they_mean_something() -> None:
    failed = Sample(ok=False, error=SampleError("timeout", None, "request timed out"))
    samples = [sample(100, 1100), sample(300, 1300), sample(100, 900), failed]
    lines = table([record(samples, concurrency=4, slo={"ttft": 0.2, "e2e": 1.2})], (90,))
    head, row = lines
    assert "ttft p90 ms" in head and head.split()[-4:] == ["tok/s", "req/s", "goodput", "errors"]
    assert row.endswith(" 50.0 %  25.0 %")  # 2 of 4 met both objectives; 1 of 4 failed
    (line,) = error_lines([record(samples, concurrency=4)])
    assert line == "errors in s@c4: 1 of 4 requests: 1x timeout (request timed out)"


def test_csv_and_jsonl_carry_the_results_samples_one_per_line() -> None:
    results = make_results(iterations=3, concurrency=(1, 2))
    samples = [s for scenario in results["scenarios"] for s in scenario["samples"]]
    lines = jsonl_text(results).splitlines()
    assert len(lines) == len(samples)
    first = json.loads(lines[0])
    scenario = results["scenarios"][0]
    assert (first["scenario"], first["concurrency"], first["index"]) == (scenario["id"], scenario["concurrency"], 0)
    assert {k: v for k, v in first.items() if k not in ("scenario", "name", "concurrency", "index")} == samples[0]
    rows = list(csv.DictReader(io.StringIO(csv_text(results))))
    assert len(rows) == len(samples)
    assert {"scenario", "ttft", "e2e", "output_tps", "server.queue_time", "usage.completion_tokens"} <= set(rows[0])
    assert float(rows[0]["ttft"]) == samples[0]["ttft"] and json.loads(rows[0]["itl"]) == samples[0]["itl"]
