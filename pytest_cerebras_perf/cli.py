"""The command line as pytest sees it: help text argparse can print, and path-valued options whose
value pytest may have read as a test path.

pytest picks its rootdir and ini file before a ``-p`` plugin has registered its options, so in
``pytest --perf-emulator-profile /abs/slow.yaml`` it takes ``/abs/slow.yaml`` for a test path: the
rootdir becomes a common ancestor of the working directory and ``/abs``, the project's ini (and its
``testpaths``, its baselines folder) is not read. The ``--opt=value`` form is immune. The plugin
cannot undo the choice, so it says so in one header line.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from .settings import OPTIONS

#: Options whose value is a file or folder, known by their metavar (``FILE``, ``DIR``, ``PATH``).
PATH_OPTIONS = tuple(
    option.flag for option in OPTIONS if {"FILE", "DIR", "PATH"} & set((option.metavar or "").split("|"))
)


def escape(help_text: str) -> str:
    """argparse %-formats help strings: a bare ``%`` ("10%") makes ``pytest --help`` crash."""
    return help_text.replace("%", "%%")


def _outside(value: str, invocation_dir: Path) -> bool:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = invocation_dir / path
    try:
        path.resolve().relative_to(invocation_dir.resolve())
    except ValueError:
        return True
    return False


def misread_paths(args: Sequence[str], invocation_dir: Path) -> list[tuple[str, str]]:
    """(option, value) pairs given as ``--opt VALUE`` whose value lies outside ``invocation_dir``:
    those pytest counted as test paths when it chose the rootdir. Inside it they move nothing."""
    found = []
    for flag, value in itertools.pairwise(args):
        if flag in PATH_OPTIONS and not value.startswith("-") and _outside(value, invocation_dir):
            found.append((flag, value))
    return found


def rootdir_warning(args: Sequence[str], invocation_dir: Path, rootdir: Path) -> str | None:
    """One line, or None when the command line cannot have moved the rootdir."""
    misread = misread_paths(args, invocation_dir)
    if not misread:
        return None
    flag, value = misread[0]
    return (
        f"cerebras-perf: WARNING: pytest took {value} ({flag}'s value) for a test path when it chose the "
        f"rootdir ({rootdir}), so the project's ini may be ignored; write {flag}={value}"
    )


def relative_to_root(path: Path, rootdir: Path) -> str:
    """``baselines/emulator/x.json`` for a path under the rootdir, the absolute path otherwise."""
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)
