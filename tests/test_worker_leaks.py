"""A key echoed back by the endpoint stays masked in every process: ``--perf-workers`` client
processes and pytest-xdist workers redact before anything reaches the parent, a file or the terminal."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from hostile_gateways import MODEL, echoing_401_server
from perf_sessions import PLUGIN, session_files

CANARY_KEY = f"sk-canary-{secrets.token_hex(8)}"
TEST = """
    import pytest

    @pytest.mark.scenario(name="echoed", prompt="hi", max_completion_tokens=8)
    def test_latency(cerebras_call):
        cerebras_call()
"""


def leaks(root: Path, outcome: pytest.RunResult) -> list[str]:
    texts = {"stdout": outcome.stdout.str(), "stderr": outcome.stderr.str()}
    texts.update({str(path): path.read_text(errors="replace") for path in root.rglob("*") if path.is_file()})
    return [where for where, text in texts.items() if CANARY_KEY in text]


@pytest.mark.parametrize("processes", [["--perf-workers", "2"], ["-n", "2"]], ids=["perf-workers", "xdist"])
def test_an_echoed_key_is_masked_everywhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, processes: list[str]
) -> None:
    pytester.makepyfile(TEST)
    out = pytester.path / "out"
    monkeypatch.setenv("CEREBRAS_API_KEY", CANARY_KEY)
    with echoing_401_server() as url:
        outcome = pytester.runpytest_subprocess(
            *PLUGIN,
            *("--perf-base-url", url, "--model", MODEL),
            *("--iterations", "2", "--warmup", "0", "--concurrency", "2"),
            *session_files(out),
            *("--junitxml", str(out / "junit.xml"), "--showlocals", "--full-trace"),
            *processes,
        )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*echoed@c2: all 4 requests failed*client_error 401 (Wrong API Key*"])
    assert (out / "report.html").exists() and (out / "junit.xml").exists()
    assert leaks(pytester.path, outcome) == []
