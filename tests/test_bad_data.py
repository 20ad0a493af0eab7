"""What a buggy or misconfigured endpoint's answers do to a run: malformed chunks, non-finite server
times, empty streams, HTML or JSON bodies instead of a stream, a stream without end. Each costs only
the request it arrived in, which becomes an error sample saying what the server sent; every other
sample and every file survive. Driven through pytest against ``hostile_server.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_server import HostileServer
from perf_sessions import PLUGIN

SCENARIOS = """
scenarios:
  steady: {prompt: "What is AI?", max_completion_tokens: 8}
"""
TEST = """
    import pytest

    @pytest.mark.scenario("steady")
    def test_latency(cerebras_call):
        cerebras_call()
"""


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def run(pytester: pytest.Pytester, base_url: str, *extra: str, iterations: int = 3) -> pytest.RunResult:
    pytester.makefile(".yaml", scenarios=SCENARIOS)
    pytester.makepyfile(TEST)
    return pytester.runpytest_subprocess(
        *PLUGIN,
        *("--iterations", str(iterations), "--warmup", "0", "--perf-retries", "0"),
        *("--perf-target", "url", "--perf-base-url", base_url),
        *("--perf-json", "results.json", "--perf-report", "report.html", "--perf-seed-results", "none"),
        *extra,
    )


def samples(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    results = json.loads((pytester.path / "results.json").read_text())
    return [sample for scenario in results["scenarios"] for sample in scenario["samples"]]


def test_one_malformed_response_costs_only_its_own_sample(pytester: pytest.Pytester, hostile: HostileServer) -> None:
    """Requests 2-4 carry ``choices: [null]``, ``completion_tokens: "lots"`` and ``NaN``; 1 and 5 are fine."""
    # 3 of 5 failed: above the default --perf-max-error-rate, which would fail the test by itself
    outcome = run(pytester, hostile.url("malformed"), "--perf-max-error-rate", "1", iterations=5)
    outcome.assert_outcomes(passed=1)
    found = samples(pytester)
    assert [s["ok"] for s in found] == [True, False, False, False, True]
    errors = [s["error"] for s in found if not s["ok"]]
    assert {e["kind"] for e in errors} == {"malformed_response"}
    assert "choices" in errors[0]["message"] and "'lots'" in errors[1]["message"] and "nan" in errors[2]["message"]
    results = json.loads((pytester.path / "results.json").read_text())
    assert results["run"]["partial"] is False and results["scenarios"][0]["stopped"] is None
    assert results["scenarios"][0]["aggregate"]["requests"] == 5
    assert "interrupted" not in outcome.stdout.str() and "Traceback" not in outcome.stdout.str()


def test_non_finite_server_times_are_not_reported_and_every_file_is_written(
    pytester: pytest.Pytester, hostile: HostileServer
) -> None:
    outcome = run(pytester, hostile.url("nan-time-info"), "--perf-benchmark-json", "bench.json")
    outcome.assert_outcomes(passed=1)
    text = (pytester.path / "results.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"results JSON holds {name}"))
    found = samples(pytester)
    assert all(s["ok"] for s in found) and len(found) == 3
    fields = ["completion_time", "prompt_time", "queue_time", "total_time"]
    assert all(s["server"][name] is None for s in found for name in fields)
    assert all(sorted(s["server"]["rejected"]) == fields for s in found)
    assert (pytester.path / "report.html").stat().st_size > 0 and (pytester.path / "bench.json").exists()
    outcome.stdout.fnmatch_lines(["*time_info*not reported*"])


def test_a_stream_without_any_token_is_an_error_sample(pytester: pytest.Pytester, hostile: HostileServer) -> None:
    outcome = run(pytester, hostile.url("empty"))
    outcome.assert_outcomes(failed=1)  # nothing succeeded: nothing was measured
    found = samples(pytester)
    assert [s["error"]["kind"] for s in found] == ["empty_response"] * 3
    outcome.stdout.fnmatch_lines(["*all 3 requests failed*empty_response*"])


@pytest.mark.parametrize(
    ("mode", "message"),
    [("html", "502 Bad Gateway upstream unavailable"), ("json-error", "model overloaded: try again later")],
)
def test_a_200_that_is_not_a_stream_keeps_the_servers_message(
    pytester: pytest.Pytester, hostile: HostileServer, mode: str, message: str
) -> None:
    outcome = run(pytester, hostile.url(mode), iterations=2)
    outcome.assert_outcomes(failed=1)
    found = samples(pytester)
    assert [s["error"]["kind"] for s in found] == ["not_a_stream"] * 2
    assert message in found[0]["error"]["message"]
    outcome.stdout.fnmatch_lines([f"*all 2 requests failed*not_a_stream 200*{message}*"])


def test_an_html_model_list_is_one_line_naming_the_url(pytester: pytest.Pytester, hostile: HostileServer) -> None:
    outcome = run(pytester, hostile.url("html-models"))
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        [f"ERROR: --perf-base-url {hostile.url('html-models')}: GET /v1/models*not a model list*"]
    )
    assert "Traceback" not in outcome.stderr.str() + outcome.stdout.str()


def test_a_stream_without_end_is_cut_at_the_byte_cap(pytester: pytest.Pytester, hostile: HostileServer) -> None:
    outcome = run(pytester, hostile.url("endless"), "--perf-timeout", "120", iterations=1)
    found = samples(pytester)
    assert [s["error"]["kind"] for s in found] == ["response_too_large"]
    assert "32 MiB" in found[0]["error"]["message"]
    outcome.assert_outcomes(failed=1)
