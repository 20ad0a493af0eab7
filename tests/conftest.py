"""Fixtures shared by the plugin's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_cerebras_perf.emulator import EmulatorProcess


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    """One fast-profile emulator per test module; a module's ``API_KEY`` (if any) is its key."""
    with EmulatorProcess() as process:
        process.start("fast", api_key=getattr(request.module, "API_KEY", None))
        yield process
