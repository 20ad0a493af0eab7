"""The example perf suite: read this to write your own.

Run it with ``pytest perf_tests -p cerebras_perf --iterations 10``. Each test below is
parametrized over scenarios from ``scenarios.yaml`` (next to this file) and over every
``--concurrency`` level; ``cerebras_call()`` warms up, measures, and gates the run against the
stored baseline: a real regression fails the test, noise does not.
"""

import pytest


@pytest.mark.scenario  # bare marker: every scenario of scenarios.yaml
def test_latency(cerebras_call):
    run = cerebras_call()
    # The gate already compared every gated metric with the baseline. You can also assert
    # absolute service-level objectives on the summaries (seconds, tokens/s):
    assert run.aggregate["error_rate"] <= 0.05
    assert run.ttft.p50 < 5.0
