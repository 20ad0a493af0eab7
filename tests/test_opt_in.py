"""Installing the package changes no other project's pytest; ``-p cerebras_perf`` turns it on.

Every run is a subprocess of the environment's own pytest, where the package is installed.
"""

from __future__ import annotations

import pytest

QUIET = ("-p", "no:randomly", "-p", "no:cacheprovider")
HEAVY = ("scipy", "numpy", "cerebras", "matplotlib", "jinja2", "aiohttp")


def test_help_works_with_and_without_the_plugin(pytester: pytest.Pytester) -> None:
    assert pytester.runpytest_subprocess("--help").ret == 0
    active = pytester.runpytest_subprocess("-p", "cerebras_perf", "--help")
    assert active.ret == 0
    active.stdout.fnmatch_lines(["*--perf-tolerance*", "*10%*"])


def test_an_unrelated_project_keeps_its_own_model_option_and_header(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_addoption(parser):
            parser.addoption("--model", default="resnet")
        """
    )
    pytester.makepyfile(
        test_ml="""
        def test_model(request):
            assert request.config.getoption("--model") == "bert"
        """
    )
    outcome = pytester.runpytest_subprocess("--model", "bert", *QUIET)
    outcome.assert_outcomes(passed=1)
    assert "cerebras-perf" not in outcome.stdout.str() + outcome.stderr.str()


@pytest.mark.parametrize("how", ["conftest", "addopts"])
def test_a_project_opts_in_and_pays_for_nothing_it_does_not_measure(pytester: pytest.Pytester, how: str) -> None:
    if how == "conftest":
        pytester.makeconftest('pytest_plugins = ["cerebras_perf"]')
    else:
        pytester.makeini("[pytest]\naddopts = -p cerebras_perf\n")
    pytester.makepyfile(
        test_plain=f"""
        import sys

        def test_no_heavy_import():
            loaded = {{name.split(".")[0] for name in sys.modules}}
            assert not loaded & set({HEAVY!r})
        """
    )
    outcome = pytester.runpytest_subprocess(*QUIET)
    outcome.assert_outcomes(passed=1)
    outcome.stdout.fnmatch_lines(["cerebras-perf: target EMULATOR*baselines in baselines/ (rootdir *)"])
