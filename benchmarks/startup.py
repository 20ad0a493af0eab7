"""pytest start-up time of an unrelated project, with and without this package installed (issue 12: within 10 %).

Installing the package must change nothing for other projects: no ``pytest11`` entry point, so
pytest neither imports the plugin nor its SDK, scipy and numpy. The two environments are this
interpreter's site-packages seen through two folders of links, one of them without the package
(its dist-info, its editable-install hook and the ``cerebras_perf`` module); the interpreter runs
with ``-S`` and adds one folder with ``site.addsitedir``, which reads ``.pth`` files as a normal
start would. Runs alternate between the two environments, and the median of each is printed.

    python benchmarks/startup.py [--rounds 15] [--tests 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PACKAGE_ENTRIES = ("pytest_cerebras_perf", "__editable__.pytest_cerebras_perf", "__editable___pytest_cerebras_perf")
TOP_LEVEL_MODULE = "cerebras_perf.py"
LIMIT = 0.10


def site_view(folder: Path, *, with_package: bool) -> Path:
    """A folder of links to every site-packages entry (minus this package's, unless asked)."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir()
    for entry in site_packages.iterdir():
        ours = entry.name.startswith(PACKAGE_ENTRIES) or entry.name == TOP_LEVEL_MODULE
        if with_package or not ours:
            (folder / entry.name).symlink_to(entry)
    return folder


def python_with(site: Path, then: str = "import pytest; sys.exit(pytest.console_main())") -> list[str]:
    return [sys.executable, "-S", "-c", f"import site, sys; site.addsitedir({str(site)!r}); {then}"]


def unrelated_project(folder: Path, tests: int) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (folder / "tests").mkdir()
    for index in range(tests):
        (folder / "tests" / f"test_{index}.py").write_text(f"def test_{index}():\n    assert {index} + 1 > {index}\n")
    return folder


def run_seconds(command: list[str], project: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    start = time.perf_counter()
    done = subprocess.run([*command, "-q", "-p", "no:cacheprovider"], cwd=project, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed in {project}:\n{done.stdout.decode()}{done.stderr.decode()}")
    if b"cerebras-perf" in done.stdout:
        raise SystemExit("the plugin is active in an unrelated project")
    return elapsed


def has_package(site: Path, elsewhere: Path) -> bool:
    """Whether the package imports in that environment (run away from the repository's folder)."""
    probe = python_with(site, "import pytest_cerebras_perf")
    return subprocess.run(probe, cwd=elsewhere, capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tests", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with_site = site_view(root / "with", with_package=True)
        without_site = site_view(root / "without", with_package=False)
        project = unrelated_project(root / "project", args.tests)
        if not has_package(with_site, project) or has_package(without_site, project):
            raise SystemExit("the two environments do not differ by the package: is it installed here?")
        installed, absent = python_with(with_site), python_with(without_site)
        run_seconds(installed, project)  # warm the file system cache for both
        run_seconds(absent, project)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.rounds):
            times["with"].append(run_seconds(installed, project))
            times["without"].append(run_seconds(absent, project))
    with_median, without_median = statistics.median(times["with"]), statistics.median(times["without"])
    change = with_median / without_median - 1
    print(f"pytest start-up + {args.tests} trivial tests of an unrelated project, median of {args.rounds} runs each:")
    print(f"  without pytest-cerebras-perf installed: {without_median * 1000:.0f} ms")
    print(f"  with pytest-cerebras-perf installed:    {with_median * 1000:.0f} ms ({change * 100:+.1f} %)")
    print(f"  {'within' if abs(change) <= LIMIT else 'NOT within'} {LIMIT * 100:.0f} %")


if __name__ == "__main__":
    main()
