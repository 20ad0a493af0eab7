"""Help text argparse can print, and path-valued options that pytest may read as test paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cerebras_perf.cli import PATH_OPTIONS, escape, misread_paths, rootdir_warning


def test_path_options_are_known_by_their_metavar() -> None:
    assert {"--perf-emulator-profile", "--perf-scenarios", "--perf-baseline-dir", "--perf-csv"} <= set(PATH_OPTIONS)
    assert "--iterations" not in PATH_OPTIONS and "--model" not in PATH_OPTIONS
    assert escape("over 10% of") % () == "over 10% of"


def test_only_space_form_values_outside_the_invocation_dir_can_move_the_rootdir(tmp_path: Path) -> None:
    here = tmp_path / "project"
    args = ["--perf-emulator-profile", "/elsewhere/slow.yaml", "--perf-scenarios", "perf/scenarios.yaml"]
    assert misread_paths(args, here) == [("--perf-emulator-profile", "/elsewhere/slow.yaml")]
    assert misread_paths(["--perf-emulator-profile=/elsewhere/slow.yaml"], here) == []
    assert misread_paths(["--perf-report", "../report.html"], here) == [("--perf-report", "../report.html")]
    assert rootdir_warning(["--perf-scenarios", "perf/s.yaml"], here, here) is None
    warning = rootdir_warning(args, here, Path("/"))
    assert warning is not None and "\n" not in warning
    assert warning.endswith("write --perf-emulator-profile=/elsewhere/slow.yaml")


PYPROJECT = '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'


def test_a_profile_outside_the_project_in_space_form_is_warned_about(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    profile = tmp_path_factory.mktemp("elsewhere") / "slow.yaml"
    profile.write_text("base: fast\n")
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    common = ("-p", "cerebras_perf", "-p", "no:randomly", "--co")
    spaced = pytester.runpytest_subprocess(*common, "--perf-emulator-profile", str(profile))
    spaced.stdout.fnmatch_lines([f"cerebras-perf: WARNING: pytest took {profile} (--perf-emulator-profile's value)*"])
    joined = pytester.runpytest_subprocess(*common, f"--perf-emulator-profile={profile}")
    assert "WARNING" not in joined.stdout.str()
    joined.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "configfile: pyproject.toml", "testpaths: tests"])
