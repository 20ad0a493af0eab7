"""The API key and URL credentials never leave the process: a canary key and a ``user:password@``
base URL go through full sessions (faults, failures, every artifact and log switched on), then
every file the run left behind and everything it printed is searched for them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from perf_sessions import PLUGIN, artifact_options

from pytest_cerebras_perf.emulator import EmulatorProcess
from pytest_cerebras_perf.redact import redact
from pytest_cerebras_perf.settings import Secret

CANARY_KEY = f"sk-canary-{secrets.token_hex(8)}"
URL_PASSWORD = "s3cret-canary"
SCENARIOS = """
scenarios:
  steady: {prompt: "What is AI?", max_completion_tokens: 12, min_completion_tokens: 12}
  faulty: {prompt: "What is ML?", max_completion_tokens: 12, min_completion_tokens: 12}
  refused: {prompt: "What is DL?", max_completion_tokens: 12}
"""
LATENCY_TEST = """
    import pytest

    @pytest.mark.scenario("steady", "faulty")
    def test_latency(cerebras_call):
        cerebras_call()
"""
REFUSED_TEST = """
    @pytest.mark.scenario("refused")
    def test_refused(cerebras_call):
        cerebras_call(max_completion_tokens=0)  # every request answered 400: the test fails
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.start("fast", api_key=CANARY_KEY)
        yield process


def leaks(root: Path, outcome: pytest.RunResult, *, inputs: tuple[str, ...] = ()) -> list[str]:
    """Where a secret shows up: every file under ``root`` (except the given inputs) and the output."""
    found = []
    texts = {"stdout": outcome.stdout.str(), "stderr": outcome.stderr.str()}
    for path in root.rglob("*"):
        if path.is_file() and path.name not in inputs:
            texts[str(path)] = path.read_text(errors="replace")
    for where, text in texts.items():
        found += [f"{where}: {secret}" for secret in (CANARY_KEY, URL_PASSWORD) if secret in text]
    return found


def test_a_full_session_with_faults_leaks_neither_the_key_nor_url_credentials(
    pytester: pytest.Pytester, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.reset()
    # ~100 ms requests: a busy machine must not mark the client saturated, or no baseline is saved
    emulator.set_profile({"ttft_base": 0.1})
    # Attempts 1-3: steady (request 2 retried), 4-6: faulty (a mid-stream error, a drop), then test_refused.
    emulator.set_faults(
        [
            {"kind": "http_500", "at": [2]},
            {"kind": "stream_error", "at": [5], "after_chunks": 2},
            {"kind": "drop", "at": [6], "after_chunks": 2},
        ]
    )
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(LATENCY_TEST + REFUSED_TEST)
    out = pytester.path / "out"
    monkeypatch.setenv("CEREBRAS_API_KEY", CANARY_KEY)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(out / "step-summary.md"))
    base_url = emulator.url.replace("http://", f"http://user:{URL_PASSWORD}@")
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("-v", "-rA", "--iterations", "2", "--warmup", "0"),
        *("--perf-target", "url", "--perf-base-url", base_url),
        *artifact_options(out),
        *("--perf-save", "--perf-max-client-lag", "1"),
        *("--junitxml", str(out / "junit.xml"), "-o", "junit_logging=all"),
        *("--log-level", "DEBUG", "--log-file", str(out / "debug.log"), "--log-file-level", "DEBUG"),
    )
    emulator.set_profile({"ttft_base": 0.001})  # the fast profile's again, for the module's other tests
    outcome.assert_outcomes(passed=2, failed=1)
    assert leaks(pytester.path, outcome) == []
    # ...and the secrets did travel every path: the key was accepted (the emulator demands it), the
    # URL had credentials, faults and SDK-built error messages are in the files, a baseline was saved.
    outcome.stdout.fnmatch_lines(["*--perf-base-url: the user:password in the URL is not sent*"])
    results = json.loads((out / "results.json").read_text())
    assert results["target"]["base_url"] == emulator.url
    samples = [s for scenario in results["scenarios"] for s in scenario["samples"]]
    assert sum(s["retries"] for s in samples) >= 2
    assert any(s["error"] and s["error"]["status"] == 400 for s in samples)
    assert "Request options" in (out / "debug.log").read_text()  # the SDK's own debug logging was on
    written = {p.name for p in out.rglob("*") if p.is_file()}
    assert {"results.json", "report.html", "benchmark.json", "junit.xml", "debug.log", "step-summary.md"} <= written
    assert any(name.startswith("benchmark_results_") for name in written)
    assert list((out / "baselines").rglob("*.json"))


def test_a_refused_key_is_one_line_without_the_key(
    pytester: pytest.Pytester, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = f"sk-canary-wrong-{secrets.token_hex(8)}"
    monkeypatch.setenv("CEREBRAS_API_KEY", wrong_key)
    pytester.makepyfile(LATENCY_TEST)
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    base_url = emulator.url.replace("http://", f"http://user:{URL_PASSWORD}@")
    outcome = pytester.runpytest_subprocess(
        "-p", "cerebras_perf", "--perf-target", "url", "--perf-base-url", base_url, "--perf-report", "none"
    )
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        [f"ERROR: --perf-base-url {emulator.url}: GET /v1/models answered 401 (Wrong API Key); check the API key*"]
    )
    text = outcome.stdout.str() + outcome.stderr.str()
    assert wrong_key not in text and URL_PASSWORD not in text and "Traceback" not in text


@pytest.mark.parametrize("source", [".env", "ini perf_api_key"])
def test_a_key_from_dotenv_or_ini_is_used_and_never_shown(
    pytester: pytest.Pytester, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    emulator.reset()
    emulator.set_faults([{"kind": "http_503", "at": [1]}])
    if source == ".env":
        (pytester.path / ".env").write_text(f"CEREBRAS_API_KEY={CANARY_KEY}\n")
        inputs = (".env",)
    else:
        pytester.makeini(f"[pytest]\nperf_api_key = {CANARY_KEY}\n")
        inputs = ("tox.ini",)
    pytester.makepyfile(LATENCY_TEST)
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--iterations", "2", "--warmup", "0"),
        *("--perf-target", "url", "--perf-base-url", emulator.url),
        *("--perf-json", "results.json", "--perf-report", "report.html", "--perf-seed-results", "none"),
    )
    outcome.assert_outcomes(passed=2)  # the emulator accepts only the canary: the key was found and sent
    assert leaks(pytester.path, outcome, inputs=inputs) == []
    assert (pytester.path / "results.json").exists() and (pytester.path / "report.html").exists()


def test_a_secret_is_masked_in_any_text_once_it_exists() -> None:
    key = Secret(f"sk-canary-unit-{secrets.token_hex(4)}")
    message = f"Error code: 401 - {{'message': 'bad key {key.reveal()}'}}"
    assert key.reveal() not in redact(message) and "***" in redact(message)
    assert key.reveal() not in repr(key) and key.reveal() not in f"{key}"
