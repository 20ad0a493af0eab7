"""The results document's contract: what a run writes loads back unchanged, older files are upgraded,
a newer writer's keys survive, and a field that does not fit is named."""

from __future__ import annotations

import json
import math

import pytest
from results_factory import make_results

from pytest_cerebras_perf.results_doc import SCHEMA, ResultsFormatError, dump, load


def test_a_built_document_round_trips_through_dump_and_load() -> None:
    results = make_results(iterations=3, concurrency=(1, 2))
    assert results["schema"] == SCHEMA
    assert load(dump(results)) == json.loads(dump(results))


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


def test_keys_a_newer_writer_added_are_kept() -> None:
    raw = json.loads(dump(make_results(iterations=2, edge_cases=False)))
    raw["ab"] = {"sides": ["A", "B"]}
    raw["scenarios"][0]["achieved_concurrency"] = 3.5
    loaded = json.loads(dump(load(json.dumps(raw))))
    assert loaded["ab"] == {"sides": ["A", "B"]} and loaded["scenarios"][0]["achieved_concurrency"] == 3.5


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
