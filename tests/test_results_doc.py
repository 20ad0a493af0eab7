"""The results document's contract: what a run writes loads back unchanged, older files are upgraded,
a newer writer's keys survive, and a field that does not fit is named."""

from __future__ import annotations

import json
import math

import pytest
from present import present
from results_factory import make_results

from pytest_cerebras_perf.results_doc import SCHEMA, ResultsFormatError, Summary, dump, load


def test_a_built_document_round_trips_through_dump_and_load() -> None:
    results = make_results(iterations=3, concurrency=(1, 2))
    assert results["schema"] == SCHEMA
    assert load(dump(results)) == results


def test_a_summary_is_written_as_its_fields_and_read_back_as_the_summary_a_test_sees() -> None:
    results = make_results(iterations=3, edge_cases=False)
    summary = present(results["scenarios"][0]["summary"]["ttft"])
    written = json.loads(dump(results))["scenarios"][0]["summary"]["ttft"]
    assert set(written) == {"n", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "cv"}
    assert written["n"] == 3 and written["p50"] == summary.p50
    read = load(dump(results))["scenarios"][0]["summary"]["ttft"]
    assert isinstance(read, Summary) and read == summary


def test_a_version_1_file_is_read_with_its_aggregate_tokens_per_second_renamed() -> None:
    current = make_results(iterations=3, edge_cases=False)
    old = json.loads(dump(current))
    old["schema"] = "cerebras-perf-results/1"
    for entry in old["scenarios"]:
        entry["aggregate"]["output_tps"] = entry["aggregate"].pop("aggregate_output_tps")
    upgraded = load(json.dumps(old))
    assert upgraded["schema"] == SCHEMA
    assert [e["aggregate"]["aggregate_output_tps"] for e in upgraded["scenarios"]] == [
        e["aggregate"]["aggregate_output_tps"] for e in current["scenarios"]
    ]
    assert all("output_tps" not in e["aggregate"] for e in upgraded["scenarios"])


def test_a_version_2_file_is_read_with_the_clients_self_check_gathered_under_client() -> None:
    """Version 2 kept the self-check flat in the aggregate (``client_saturated``, ``client_lag``...),
    A's side of an A/B entry included; version 3 reads it under ``aggregate.client``."""
    current = make_results(iterations=3, edge_cases=False)
    old = json.loads(dump(current))
    old["schema"] = "cerebras-perf-results/2"
    flat = {
        "client_saturated": True,
        "saturation": "event_loop",
        "client_lag": 0.02,
        "client_lag_max": 0.05,
        "loop_lag_p99": 0.02,
        "pre_send_wait_p50": 0.001,
        "pre_send_wait_p99": 0.003,
        "dispatch_share": 0.1,
        "saturated_clients": ["worker-1"],
        "client_cpu_seconds": 1.5,
        "client_cpu_per_1k_tokens": 0.2,
    }
    for entry in old["scenarios"]:
        del entry["aggregate"]["client"]
        entry["aggregate"].update(flat)
    side: dict[str, object] = {"model": "m", "base_url": None, "request": {}}
    old["scenarios"][0]["ab"] = {
        "design": "interleaved",
        "blocks": 1,
        "seed": 0,
        "pairs": [],
        "a": {**side, "aggregate": {**old["scenarios"][0]["aggregate"]}},
        "b": side,
    }
    upgraded = load(json.dumps(old))
    for entry in upgraded["scenarios"]:
        assert not set(flat) & set(entry["aggregate"])
        assert entry["aggregate"]["client"] == {
            "saturated": True,
            "saturation": "event_loop",
            "lag": 0.02,
            "lag_max": 0.05,
            "loop_lag_p99": 0.02,
            "pre_send_wait_p50": 0.001,
            "pre_send_wait_p99": 0.003,
            "dispatch_share": 0.1,
            "saturated_workers": ["worker-1"],
            "cpu_seconds": 1.5,
            "cpu_per_1k_tokens": 0.2,
        }
    a_side = json.loads(dump(upgraded))["scenarios"][0]["ab"]["a"]["aggregate"]
    assert a_side["client"]["saturated"] is True and "client_lag" not in a_side


def test_keys_a_newer_writer_added_are_kept() -> None:
    raw = json.loads(dump(make_results(iterations=2, edge_cases=False)))
    raw["later_section"] = {"sides": ["A", "B"]}  # a key this reader does not know
    raw["scenarios"][0]["achieved_concurrency"] = 3.5
    loaded = json.loads(dump(load(json.dumps(raw))))
    assert loaded["later_section"] == {"sides": ["A", "B"]} and loaded["scenarios"][0]["achieved_concurrency"] == 3.5


def test_a_field_of_the_wrong_type_is_named_by_its_path() -> None:
    raw = json.loads(dump(make_results(iterations=2, edge_cases=False)))
    raw["scenarios"][1]["samples"][0]["ttft"] = "fast"
    with pytest.raises(
        ResultsFormatError, match=r"^scenarios\[1\]\.samples\[0\]\.ttft: Input should be a valid number"
    ):
        load(json.dumps(raw))


def test_dump_refuses_a_value_json_cannot_hold() -> None:
    results = make_results(iterations=2, edge_cases=False)
    results["scenarios"][0]["samples"][0]["ttft"] = math.nan
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        dump(results)
