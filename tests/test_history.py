"""The run history without a pytest session: the writer, the queries, the CLI, concurrent writers,
bad databases and change points, on SQLite files."""

from __future__ import annotations

import csv
import multiprocessing
import sqlite3
import tempfile
from pathlib import Path

import pytest
from history_docs import SCENARIO, history_doc

from pytest_cerebras_perf.history.cli import main as history_cli
from pytest_cerebras_perf.history.entries import decompress_samples, run_entry
from pytest_cerebras_perf.history.location import LocationError, describe, history_url
from pytest_cerebras_perf.history.schema import SCHEMA_VERSION
from pytest_cerebras_perf.history.store import HistoryError, HistoryStore
from pytest_cerebras_perf.history.writer import record_run
from pytest_cerebras_perf.redact import register_secret
from pytest_cerebras_perf.results_doc import HistoryDoc


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_runs_are_appended_listed_shown_exported_and_pruned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path / "h.sqlite")
    for run in range(1, 4):
        record_run(url, history_doc(run), metrics=("ttft", "e2e"), accepted={SCENARIO: ["run-01"]})
    with HistoryStore.open(url) as store:
        assert [r.run_id for r in store.runs()] == ["run-01", "run-02", "run-03"]
        points = store.series("emulator", "m", SCENARIO, "e2e", 30)
        assert [p.run_id for p in points] == ["run-01", "run-02", "run-03"]
        assert all(0.05 < p.centre < 0.07 and p.spread is not None and p.spread > 0 for p in points)
        shown = store.run("run-02")
        assert shown is not None and shown["scenarios"][SCENARIO]["metrics"]["e2e"]["n"] == 10

    assert history_cli(["--db", url, "list"]) == 0
    listed = capsys.readouterr().out
    assert all(f"run-0{i}" in listed for i in (1, 2, 3))
    assert history_cli(["--db", url, "trend", SCENARIO, "e2e"]) == 0
    assert capsys.readouterr().out.count("ms") == 3
    exported = tmp_path / "h.csv"
    assert history_cli(["--db", url, "export", "--csv", str(exported)]) == 0
    rows = list(csv.DictReader(exported.open()))
    assert len(rows) == 3 * 2 and {r["metric"] for r in rows} == {"ttft", "e2e"}
    assert history_cli(["--db", url, "prune", "--keep", "1"]) == 0
    with HistoryStore.open(url) as store:
        assert [r.run_id for r in store.runs()] == ["run-03"]
        assert len(list(store.summary_rows())) == 2


def test_the_trend_section_marks_accepted_runs_and_this_run(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "h.sqlite")
    for run in range(1, 3):
        section = record_run(url, history_doc(run), metrics=("e2e", "error_rate"), accepted={SCENARIO: ["run-01"]})
    assert [t["metric"] for t in section["trends"]] == ["e2e"]  # a rate has no run centre to draw
    points = section["trends"][0]["points"]
    assert [(p["accepted"], p["current"]) for p in points] == [(True, False), (False, True)]
    assert section["run"] == 2 and section["database"] == str(tmp_path / "h.sqlite")


def _append_runs(url: str, first: int, count: int) -> None:
    for run in range(first, first + count):
        with HistoryStore.open(url) as store:
            store.append(run_entry(history_doc(run)))


def test_two_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "h.sqlite")
    HistoryStore.open(url).close()
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_runs, args=(url, first, 20)) for first in (1, 21)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    with HistoryStore.open(url) as store:
        assert sorted(r.run_id for r in store.runs()) == [f"run-{i:02d}" for i in range(1, 41)]
        assert len(list(store.summary_rows())) == 40 * 2  # ttft and e2e of every run


def test_a_corrupt_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError) as caught:
        HistoryStore.open(sqlite_url(path))
    message = str(caught.value)
    assert message.startswith(str(path)) and "not a database" in message and "\n" not in message


def test_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    HistoryStore.open(sqlite_url(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE cerebras_perf_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(HistoryError) as caught:
        HistoryStore.open(sqlite_url(path))
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in str(caught.value) and "\n" not in str(caught.value)


def test_a_step_in_decode_time_from_run_7_is_found_at_run_7() -> None:
    found = []
    for seed in range(3):
        section = _twelve_runs(seed, step=True)
        e2e = next(t for t in section["trends"] if t["metric"] == "e2e")
        found.append([c["run_id"] for c in e2e["change_points"]])
        assert e2e["shifted"] is not None and e2e["shifted"].startswith("since run run-0")
        assert "e2e +1" in e2e["shifted"]  # +15 % decode is +12-13 % e2e
        ttft = next(t for t in section["trends"] if t["metric"] == "ttft")
        assert ttft["change_points"] == [] and ttft["shifted"] is None
    assert all(ids and ids[-1] in ("run-06", "run-07", "run-08") for ids in found), found


def test_twelve_runs_without_a_step_have_no_change_point() -> None:
    for seed in range(3):
        section = _twelve_runs(seed, step=False)
        assert all(t["change_points"] == [] and t["shifted"] is None for t in section["trends"])


def _twelve_runs(seed: int, *, step: bool) -> HistoryDoc:
    """The trend section after the 12th of 12 runs (decode 15 % slower from run 7 on if ``step``)."""
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_url(Path(folder) / "h.sqlite")
        docs = [history_doc(run, decode=1.15 if step and run >= 7 else 1.0, seed=seed) for run in range(1, 13)]
        with HistoryStore.open(url) as store:
            for doc in docs[:-1]:
                store.append(run_entry(doc))
        return record_run(url, docs[-1], metrics=("ttft", "e2e"), accepted={})


def test_the_location_resolves_and_never_shows_a_password(tmp_path: Path) -> None:
    assert history_url(None, baseline_dir=tmp_path / "b", root=tmp_path, source="x") == (
        f"sqlite:///{tmp_path / 'b' / 'perf-history.sqlite'}"
    )
    assert history_url("none", baseline_dir=tmp_path, root=tmp_path, source="x") is None
    assert history_url("h.db", baseline_dir=tmp_path, root=tmp_path, source="x") == f"sqlite:///{tmp_path / 'h.db'}"
    url = history_url("postgresql://u:s3cret-pw@db:5432/perf", baseline_dir=tmp_path, root=tmp_path, source="x")
    assert url == "postgresql+psycopg://u:s3cret-pw@db:5432/perf"
    assert describe(url) == "postgresql://db:5432/perf"
    with pytest.raises(LocationError, match="--perf-history: expected a file path, a postgresql:// URL or 'none'"):
        history_url("mysql://u@h/x", baseline_dir=tmp_path, root=tmp_path, source="--perf-history")


def test_a_secret_a_model_echoed_is_masked_in_the_stored_samples() -> None:
    secret = "sk-history-canary-5f3a9c"
    register_secret(secret)
    doc = history_doc(1)
    doc["scenarios"][0]["samples"][0]["content"] = f"the key is {secret}"
    stored = decompress_samples(run_entry(doc).scenarios[0].samples)
    assert stored[0]["content"] == "the key is ***"
