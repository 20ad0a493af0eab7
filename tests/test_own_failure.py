"""A perf test that fails its own assertion still records its verdicts and shows the gate's reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from perf_sessions import PLUGIN

TEST = """
    import pytest

    @pytest.mark.scenario(name="refused", prompt="hi", max_completion_tokens=8)
    def test_own_check(cerebras_call):
        cerebras_call(max_completion_tokens=0)  # the emulator answers 400: the gate's reason
        assert False, "the test's own check"
"""


def test_a_test_failing_its_own_assertion_keeps_properties_and_gate_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST)
    junit = pytester.path / "junit.xml"
    outcome = pytester.runpytest_inprocess(
        *PLUGIN,
        *("--perf-emulator-profile", "fast", "--iterations", "2", "--warmup", "0"),
        *("--perf-report", "none", "--perf-seed-results", "none"),
        *("--perf-baseline-dir", str(pytester.path / "baselines"), "--junitxml", str(junit)),
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*the test's own check*", "*refused@c1: all 2 requests failed*client_error 400*"])
    names = {p.get("name") for p in ET.parse(junit).getroot().iter("property")}
    assert "perf:refused@c1:ttft" in names
