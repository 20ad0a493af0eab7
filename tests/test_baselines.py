"""Baseline files: round trip, history, pooling, stable bytes, atomic writes, errors that name the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_cerebras_perf.baselines import (
    SCHEMA,
    BaselineError,
    BaselineRun,
    ScenarioBaseline,
    baseline_path,
    load_baseline,
    lock_path,
    save_runs,
)
from pytest_cerebras_perf.load import LoadResult
from pytest_cerebras_perf.records import ScenarioRecord
from pytest_cerebras_perf.results import scenario_entry
from pytest_cerebras_perf.scenarios import Scenario

TARGET = {"kind": "emulator", "key": "emulator"}
MODEL = "llama3.1-8b"
SCENARIO = "short_prompt@c1"


def run(index: int, *, size: int = 10, error_rate: float = 0.0) -> BaselineRun:
    return BaselineRun(
        run_id=f"run-{index}",
        accepted=f"2025-01-{index + 1:02d}T12:00:00+00:00",
        commit=f"abc{index}",
        iterations=size,
        samples={
            "ttft": [round(0.1 + 0.001 * (index * size + i), 6) for i in range(size)],
            "output_tps": [2000.0] * size,
        },
        error_rate=error_rate,
        max_completion_tokens=256,
        plugin_version="0.1.0",
        sdk_version="1.91.0",
    )


def save(path: Path, *runs: BaselineRun, scenario: str = SCENARIO, history: int = 10) -> None:
    for one in runs:
        save_runs(
            path,
            target=TARGET,
            model=MODEL,
            runs={scenario: one},
            tolerances={scenario: {"ttft": 0.2}},
            history=history,
        )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return baseline_path(tmp_path / "baselines", "emulator", MODEL)


def test_path_is_target_then_model_with_unsafe_characters_replaced(tmp_path: Path) -> None:
    assert baseline_path(tmp_path, "emulator", "llama3.1-8b") == tmp_path / "emulator" / "llama3.1-8b.json"
    odd = baseline_path(tmp_path, "localhost:8080", "meta-llama/Llama 3.3:70b")
    assert odd == tmp_path / "localhost_8080" / "meta-llama_Llama_3.3_70b.json"
    with pytest.raises(ValueError, match="model"):
        baseline_path(tmp_path, "emulator", "../")


def test_missing_file_means_no_baseline(path: Path) -> None:
    assert load_baseline(path, target=TARGET, model=MODEL) is None


def test_round_trip(path: Path) -> None:
    save(path, run(0), run(1))
    save(path, run(2), scenario="long_prompt@c4")
    baseline = load_baseline(path, target=TARGET, model=MODEL)
    assert baseline is not None
    assert (baseline.path, baseline.target, baseline.model) == (path, TARGET, MODEL)
    assert set(baseline.scenarios) == {SCENARIO, "long_prompt@c4"}
    scenario = baseline.scenarios[SCENARIO]
    assert scenario.runs == (run(0), run(1))
    assert scenario.tolerances == {"ttft": 0.2}
    assert baseline.scenarios["long_prompt@c4"].runs == (run(2),)


def test_history_keeps_the_last_runs_per_scenario(path: Path) -> None:
    save(path, *(run(i) for i in range(5)), history=3)
    save(path, run(9), scenario="other@c1", history=3)
    baseline = load_baseline(path, target=TARGET, model=MODEL)
    assert baseline is not None
    assert [r.run_id for r in baseline.scenarios[SCENARIO].runs] == ["run-2", "run-3", "run-4"]
    assert [r.run_id for r in baseline.scenarios["other@c1"].runs] == ["run-9"]


def test_pooled_runs_subsample_every_run_evenly_under_the_cap() -> None:
    scenario = ScenarioBaseline(runs=tuple(run(i, size=40, error_rate=i / 10) for i in range(4)), tolerances={})
    pooled = scenario.pooled_runs("ttft", keep=3, cap=100)
    assert [len(r) for r in pooled] == [33, 33, 33]  # oldest first; run-0 is beyond keep; no run dropped
    for kept, index in zip(pooled, (1, 2, 3), strict=True):
        whole = run(index, size=40).samples["ttft"]
        assert kept[0] == whole[0] and kept[-1] == whole[-1]  # spread over the whole run, in order
        assert kept == sorted(kept) and set(kept) <= set(whole)
    assert scenario.pooled_runs("ttft", keep=2) == [run(2, size=40).samples["ttft"], run(3, size=40).samples["ttft"]]
    assert scenario.pooled_runs("server_total") == []  # never recorded: no baseline for that metric
    assert scenario.error_rates(keep=3) == [0.1, 0.2, 0.3]


def test_pooled_runs_keep_all_runs_at_high_concurrency() -> None:
    """Concurrency 8 × 10 iterations = 80 samples a run: five runs still give five runs, 20 each."""
    scenario = ScenarioBaseline(runs=tuple(run(i, size=80) for i in range(5)), tolerances={})
    assert [len(r) for r in scenario.pooled_runs("ttft", keep=5, cap=100)] == [20] * 5


def test_history_holds_every_stored_run_with_its_acceptance_time() -> None:
    scenario = ScenarioBaseline(runs=tuple(run(i) for i in range(20)), tolerances={})
    history = scenario.history("ttft")
    assert len(history) == 20 and list(history[5].values) == run(5).samples["ttft"]
    assert history[1].accepted is not None and history[0].accepted is not None
    assert history[1].accepted - history[0].accepted == 86_400  # a day apart, as the ISO times say


def test_twenty_runs_are_kept_by_default(path: Path) -> None:
    for i in range(22):
        save_runs(path, target=TARGET, model=MODEL, runs={SCENARIO: run(i)}, tolerances={})
    baseline = load_baseline(path, target=TARGET, model=MODEL)
    assert baseline is not None
    assert [r.run_id for r in baseline.scenarios[SCENARIO].runs] == [f"run-{i}" for i in range(2, 22)]


def test_output_is_stable_sorted_and_rounded(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "m.json", tmp_path / "b" / "m.json"
    noisy = BaselineRun("noisy", "2025-01-01T00:00:00+00:00", None, 2, {"ttft": [0.1 + 0.2, 1 / 3]}, 1 / 30)
    for target in (first, second):
        save(target, run(0), noisy)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "model": "llama3.1-8b",' in text
    data = json.loads(text)
    assert list(data) == sorted(data) and data["schema"] == SCHEMA
    stored = data["scenarios"][SCENARIO]["runs"][1]
    assert stored["samples"]["ttft"] == [0.3, 0.333333333]  # 9 significant digits, not 0.30000000000000004
    assert stored["error_rate"] == 0.0333333333
    save(first, run(2))
    save(second, run(2))
    assert first.read_bytes() == second.read_bytes()


def test_unknown_keys_survive_a_save(path: Path) -> None:
    save(path, run(0))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["note"] = "written by a newer 1.x plugin"
    path.write_text(json.dumps(data), encoding="utf-8")
    save(path, run(1))
    assert json.loads(path.read_text(encoding="utf-8"))["note"] == "written by a newer 1.x plugin"


def test_a_write_that_fails_midway_leaves_the_old_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(path, run(0))
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save(path, run(1))
    assert path.read_bytes() == before
    left = sorted(p.name for p in path.parent.iterdir() if p != lock_path(path))  # the lock stays, by design
    assert left == [path.name]  # no temporary file left behind


@pytest.mark.parametrize(
    "text",
    ['{"schema": "cerebras-perf-baseline/1", "target": {"kind": "emu', "", "[1, 2]", "\x00\x01 not json"],
    ids=["truncated", "empty", "not-an-object", "garbage"],
)
def test_corrupt_file_is_an_error_naming_it_and_is_never_overwritten(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineError) as caught:
        load_baseline(path, target=TARGET, model=MODEL)
    message = str(caught.value)
    assert str(path) in message and "corrupt" in message and "\n" not in message
    with pytest.raises(BaselineError):
        save(path, run(0))
    assert path.read_text(encoding="utf-8") == text


def test_wrong_shapes_are_corrupt_and_say_where(path: Path) -> None:
    save(path, run(0))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["scenarios"][SCENARIO]["runs"][0]["iterations"] = "ten"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BaselineError, match=r"corrupt.*runs\[0\]\.iterations should be int") as caught:
        load_baseline(path, target=TARGET, model=MODEL)
    assert str(path) in str(caught.value)


def test_newer_schema_asks_for_an_upgrade(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": "cerebras-perf-baseline/2", "whatever": 1}), encoding="utf-8")
    with pytest.raises(BaselineError) as caught:
        load_baseline(path, target=TARGET, model=MODEL)
    assert str(caught.value) == (
        f"{path} was written by schema cerebras-perf-baseline/2; this plugin reads cerebras-perf-baseline/1"
        " — upgrade pytest-cerebras-perf"
    )


def test_not_a_baseline_at_all(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": "cerebras-perf-results/1"}), encoding="utf-8")
    with pytest.raises(BaselineError, match="not a pytest-cerebras-perf baseline"):
        load_baseline(path, target=TARGET, model=MODEL)


@pytest.mark.parametrize(
    ("target", "model"),
    [({"kind": "cloud", "key": "api.cerebras.ai"}, MODEL), (TARGET, "llama-3.3-70b")],
    ids=["other-target", "other-model"],
)
def test_baseline_of_another_target_or_model_is_never_compared(path: Path, target: dict[str, str], model: str) -> None:
    save(path, run(0))
    before = path.read_bytes()
    with pytest.raises(BaselineError, match="never compared") as caught:
        load_baseline(path, target=target, model=model)
    assert str(path) in str(caught.value)
    with pytest.raises(BaselineError):
        save_runs(path, target=target, model=model, runs={SCENARIO: run(1)}, tolerances={})
    assert path.read_bytes() == before


def test_non_finite_samples_are_refused(path: Path) -> None:
    bad = BaselineRun("r", "2025-01-01T00:00:00+00:00", None, 1, {"ttft": [float("nan")]}, 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        save_runs(path, target=TARGET, model=MODEL, runs={SCENARIO: bad}, tolerances={})
    assert not path.exists()


def test_results_show_exactly_the_baseline_the_gate_pooled() -> None:
    """--perf-baseline-runs 5 at concurrency 8: the results' baseline is the gate's 5 subsampled runs."""
    stored = ScenarioBaseline(runs=tuple(run(i, size=80) for i in range(6)), tolerances={})
    record = ScenarioRecord(
        scenario=Scenario(name="short", messages=({"role": "user", "content": "hi"},), source="test"),
        concurrency=8,
        nodeid="test_perf[short]",
        request={},
        result=LoadResult(),
        baseline=stored,
    )
    entry = scenario_entry(record, baseline_runs=5)
    gated = [v for kept in stored.pooled_runs("ttft", keep=5) for v in kept]
    assert entry["baseline"]["samples"]["ttft"] == gated and len(gated) == 100
    assert entry["baseline"]["runs"] == 5 and entry["baseline"]["stored_runs"] == 6
