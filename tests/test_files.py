"""Atomic writes: readers see the old file or the new one, with normal permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_cerebras_perf import files


def test_new_file_gets_umask_permissions_and_existing_mode_is_kept(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        fresh = files.write_atomic(tmp_path / "sub" / "a.json", "{}")
        assert fresh.read_text() == "{}"
        assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: CI artifacts must be readable
        fresh.chmod(0o640)
        files.write_atomic(fresh, "[]")
        assert fresh.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_failure_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "baseline.json"
    target.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]
