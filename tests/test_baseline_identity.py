"""Which baseline set a custom endpoint is gated against: stable across ports, separated by name.

A server restarted on another port (a CI service container, a per-job vLLM) is the same endpoint
and must be gated against what was saved; two endpoints named apart must never share baselines;
a session that found no baseline must say, loudly, which file it looked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from perf_sessions import perf_session, perf_suite

from pytest_cerebras_perf.emulator.process import EmulatorProcess
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

SCENARIOS = """
scenarios:
  short:
    prompt: "What is AI?"
    max_completion_tokens: 20
    min_completion_tokens: 20
"""


DEFAULT_FILE = "baselines/custom-127.0.0.1/llama-3.3-70b.json"
#: ~0.3 s requests: the client's own time is a small share of them (a saturated run is not saved)
PROFILE = {"ttft_base": 0.3, "decode_tps": 2000.0}


def run(pytester: pytest.Pytester, url: str, *extra: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    return perf_session(pytester, pytester.path / "results.json", "--perf-base-url", url, "--iterations", "3", *extra)


def gated(results: dict[str, Any]) -> dict[str, int]:
    """metric -> baseline runs compared, for the metrics that were compared with a baseline."""
    gates = results["scenarios"][0]["gate"]
    return {g["metric"]: g["baseline_runs"] for g in gates if g["verdict"] not in ("no-baseline", "not-gated")}


def stored_runs(path: Path) -> int:
    return len(json.loads(path.read_text())["scenarios"]["short@c1"]["runs"])


def test_the_default_key_leaves_the_port_out_and_a_name_replaces_the_address() -> None:
    def key(url: str, name: str | None = None, kind: str = "custom") -> str:
        return Endpoint(kind, url, Secret("unused"), name=name).key  # type: ignore[arg-type]

    assert key("http://127.0.0.1:40337") == key("http://127.0.0.1:41999") == "custom-127.0.0.1"
    assert key("https://gpu-box.internal:8443/vllm") == "custom-gpu-box.internal_vllm"
    assert key("http://127.0.0.1:40337", "staging") == "custom-staging"
    assert key("https://api.cerebras.ai", "team-a", kind="cloud") == "cloud-team-a"
    assert key("https://api.cerebras.ai", kind="cloud") == "cloud"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return perf_suite(pytester, SCENARIOS)


def test_a_port_change_keeps_the_baseline_set_and_a_name_separates_endpoints(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_file, named_file = suite.path / DEFAULT_FILE, suite.path / "baselines/custom-staging/llama-3.3-70b.json"
    with EmulatorProcess() as first:
        outcome, results = run(suite, first.start("fast", overrides=PROFILE), "--perf-save")
        first_url = first.url
    outcome.assert_outcomes(passed=1)
    assert not gated(results) and stored_runs(default_file) == 1
    outcome.stdout.fnmatch_lines([f"*baseline set custom-127.0.0.1: none yet (looked for {DEFAULT_FILE})*"])
    before = default_file.read_bytes()

    with EmulatorProcess() as second:
        url = second.start("fast", overrides=PROFILE)
        assert url != first_url  # the same server, restarted on another port

        outcome, results = run(suite, url)
        outcome.assert_outcomes(passed=1)
        assert gated(results) and set(gated(results).values()) == {1}, results["scenarios"][0]["gate"]
        assert results["target"]["baseline_set"] == "custom-127.0.0.1"
        outcome.stdout.fnmatch_lines([f"*baseline set custom-127.0.0.1: {DEFAULT_FILE} (1 accepted scenario runs)*"])
        assert "NOTHING WAS GATED" not in outcome.stdout.str()

        outcome, results = run(suite, url, "--perf-target-name", "staging", "--perf-save")
        outcome.assert_outcomes(passed=1)
        assert not gated(results)  # the default set's baseline is not this endpoint's
        outcome.stdout.fnmatch_lines(
            [
                "*NOTHING WAS GATED*",
                "*no baseline at baselines/custom-staging/llama-3.3-70b.json (baseline set custom-staging) "
                "(this run was saved as its first baseline)*",
            ]
        )

        monkeypatch.setenv("CEREBRAS_PERF_TARGET_NAME", "staging")
        outcome, results = run(suite, url)
    outcome.assert_outcomes(passed=1)
    assert results["target"]["baseline_set"] == "custom-staging"
    assert set(gated(results).values()) == {1}  # the one run saved under the name
    assert stored_runs(named_file) == 1
    assert default_file.read_bytes() == before  # the unnamed set never saw the named runs
