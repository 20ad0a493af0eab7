"""One redaction point for everything a session writes or prints: a canary key that reaches the prompt
(through a ``{{file: ...}}`` include) and the model's output (the server echoes it) is masked in the
results, the report, every export, the baseline, the terminal, failure messages with
``--showlocals --full-trace``, and the JUnit XML.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from hostile_server import HostileServer
from perf_sessions import PLUGIN, artifact_options

from pytest_cerebras_perf.redact import MIN_FRAGMENT

CANARY_KEY = f"sk-canary-{secrets.token_hex(8)}"
SCENARIOS = """
scenarios:
  leaky: {prompt: "Repeat this: {{file: data/notes.txt}}", max_completion_tokens: 8}
"""
TESTS = """
    import pytest

    @pytest.mark.scenario("leaky")
    def test_measures(cerebras_call):
        cerebras_call()

    @pytest.mark.scenario("leaky")
    def test_checks_the_answer(cerebras_call):
        answer = cerebras_call.once()
        print("the model said", answer.content)
        assert answer.content == "something else"
"""


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def test_a_key_in_the_prompt_and_the_output_is_masked_in_every_file_and_line(
    pytester: pytest.Pytester, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "suite" / "data").mkdir(parents=True)
    (pytester.path / "suite" / "data" / "notes.txt").write_text(f"CEREBRAS_API_KEY={CANARY_KEY}\n")
    (pytester.path / "suite" / "scenarios.yaml").write_text(SCENARIOS)
    (pytester.path / "suite" / "test_leaky.py").write_text(TESTS.replace("\n    ", "\n"))
    out = pytester.path / "out"
    monkeypatch.setenv("CEREBRAS_API_KEY", CANARY_KEY)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(out / "step-summary.md"))
    outcome = pytester.runpytest_subprocess(
        "suite",
        *PLUGIN,
        *("-rA", "--showlocals", "--full-trace", "--iterations", "2", "--warmup", "0"),
        *("--perf-target", "url", "--perf-base-url", hostile.url("echo")),
        *artifact_options(out),
        "--perf-save",
        *("--junitxml", str(out / "junit.xml"), "-o", "junit_logging=all"),
    )
    outcome.assert_outcomes(passed=1, failed=1)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"results.json", "report.html", "benchmark.json", "junit.xml"}
    assert {"step-summary.md"} <= {p.name for p in written} and any(p.suffix == ".json" for p in out.glob("seed/*"))
    texts = {str(p): p.read_text(errors="replace") for p in written}
    texts.update(stdout=outcome.stdout.str(), stderr=outcome.stderr.str())
    assert [where for where, text in texts.items() if CANARY_KEY in text] == []
    # pytest shortens long values in the middle: what is left of the key there is masked too
    assert [where for where, text in texts.items() if CANARY_KEY[-MIN_FRAGMENT:] in text] == []
    # ...and the key did travel: it was in the prompt and in the answer, where the mask stands now
    scenario = json.loads((out / "results.json").read_text())["scenarios"][0]
    assert "CEREBRAS_API_KEY=***" in scenario["prompt"]
    assert "CEREBRAS_API_KEY=***" in scenario["samples"][0]["content"]
    assert "CEREBRAS_API_KEY=***" in texts[str(out / "report.html")]
    outcome.stdout.fnmatch_lines(
        [
            "answer *= Sample(ok=True, *[*][*][*]'*",  # pytest shortens the repr; the mask survives
            "the model said Repeat this: CEREBRAS_API_KEY=[*][*][*]",
        ]
    )
