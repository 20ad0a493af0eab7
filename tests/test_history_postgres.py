"""The run history on a real PostgreSQL server (CI's, or a throw-away cluster of this module's):
three sessions append three runs that ``history list`` shows, and the URL's password appears in
no output and no file, also when the server refuses it (a session whose history cannot be opened
says so in one line: test_history_sessions.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from history_sessions import history_cli, make_suite, run_session
from postgres_cluster import postgres_database


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _every_file_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_three_sessions_append_three_runs_and_the_password_never_shows(
    pytester: pytest.Pytester, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = urlsplit(database).password
    assert password
    make_suite(pytester)
    outputs = []
    sessions: list[tuple[str, ...]] = [(), ("-k", "prompt_only", "-v"), ("--perf-history", database, "-rA")]
    monkeypatch.setenv("CEREBRAS_PERF_HISTORY", database)  # the first two find it in the environment
    for extra in sessions:
        outcome = run_session(pytester, "--perf-report", "report.html", "--junitxml", "junit.xml", *extra)
        assert outcome.ret == 0, outcome.stdout.str()
        outputs += [outcome.stdout.str(), outcome.stderr.str()]
    monkeypatch.delenv("CEREBRAS_PERF_HISTORY")

    listed = history_cli(pytester.path, "--db", database, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1", "2", "3"] and [row[-1] for row in rows] == ["2", "1", "2"]
    shown = history_cli(pytester.path, "--db", database, "show", "2")
    assert shown.returncode == 0 and '"prompt_only@c1"' in shown.stdout
    outputs += [listed.stdout, listed.stderr, shown.stdout, shown.stderr]

    wrong = database.replace(password, password[::-1])
    refused = history_cli(pytester.path, "--db", wrong, "list")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "password authentication failed" in refused.stderr, refused.stderr
    outputs += [refused.stdout, refused.stderr]

    for secret in (password, password[::-1]):
        for text in [*outputs, _every_file_text(pytester.path)]:
            assert secret not in text
    assert not (pytester.path / "baselines" / "perf-history.sqlite").exists()  # PostgreSQL took every run
