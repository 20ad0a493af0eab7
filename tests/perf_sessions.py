"""One plugin session in a pytester subprocess, as the end-to-end tests run it, and the suite it runs.

Every such test needs the same frame: the plugin loaded explicitly (it never loads itself), no
random test order and no cache directory, the results JSON where the test can read it, no seed
results, and a client-lag limit raised so that a busy shared test machine does not mark a run
saturated (``aggregate.client``: such a run is neither gated nor saved, which is not what these tests test).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

PLUGIN = ("-p", "cerebras_perf", "-p", "no:randomly", "-p", "no:cacheprovider")
# test_perf.py of the suites whose scenarios all live in scenarios.yaml: the bare marker measures each.
EVERY_SCENARIO_TEST = """
import pytest

@pytest.mark.scenario
def test_perf(cerebras_call):
    cerebras_call()
"""


def perf_suite(pytester: pytest.Pytester, scenarios: str, profiles: Mapping[str, str] | None = None) -> pytest.Pytester:
    """``pytester`` holding ``scenarios`` as scenarios.yaml, one test measuring every scenario in it,
    and each of ``profiles`` (emulator profiles) as ``<name>.yaml``, for ``--perf-emulator-profile``."""
    pytester.makefile(".yaml", scenarios=scenarios)
    pytester.makepyfile(test_perf=EVERY_SCENARIO_TEST)
    for name, text in (profiles or {}).items():
        (pytester.path / f"{name}.yaml").write_text(text)
    return pytester


def artifact_options(out: Path) -> tuple[str, ...]:
    """Every file a session can write, each under ``out``: the results JSON, the HTML report, the
    seed results, the pytest-benchmark JSON and the baselines.

    For the tests that search everything a run left behind (for a secret): one folder holds it all,
    and no kind of file is left out of the search.
    """
    return (
        *("--perf-json", str(out / "results.json"), "--perf-report", str(out / "report.html")),
        *("--perf-seed-results", str(out / "seed"), "--perf-benchmark-json", str(out / "benchmark.json")),
        *("--perf-baseline-dir", str(out / "baselines")),
    )


def session_files(out: Path) -> tuple[str, ...]:
    """The results JSON, the HTML report and the baselines under ``out``, and no seed results.

    What the tests read back of a run, in a folder of its own, so that two runs in one test (local
    and Ray, interrupted and whole) keep their files apart and nothing lands in the test's root.
    """
    return (
        *("--perf-json", str(out / "results.json"), "--perf-report", str(out / "report.html")),
        *("--perf-seed-results", "none", "--perf-baseline-dir", str(out / "baselines")),
    )


def perf_session(
    pytester: pytest.Pytester,
    results: Path,
    *args: str,
    report: Path | None = None,
    max_client_lag: float = 1.0,
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the plugin on ``pytester``'s tests with ``args``; the outcome and the results JSON it wrote."""
    outcome = pytester.runpytest_subprocess(
        *PLUGIN,
        *("--perf-json", str(results), "--perf-seed-results", "none"),
        *("--perf-report", "none" if report is None else str(report)),
        *("--perf-max-client-lag", str(max_client_lag)),
        *args,
    )
    return outcome, json.loads(results.read_text())
