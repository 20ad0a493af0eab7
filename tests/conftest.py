"""Fixtures shared by the plugin's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pytest_cerebras_perf.history.store  # noqa: F401  (see below)
from pytest_cerebras_perf.emulator import EmulatorProcess

# pytester's in-process sessions restore sys.modules when they end, so a module first imported
# inside one is imported again by the next. SQLAlchemy's compiled extension modules cannot be
# imported twice in one process (the second session fails with "'InternalTraversal' object is not
# callable" and writes no run history): imported here, before any in-process session, the run
# history's modules (SQLAlchemy with them) outlive every such session.


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    """One fast-profile emulator per test module; a module's ``API_KEY`` (if any) is its key."""
    with EmulatorProcess() as process:
        process.start("fast", api_key=getattr(request.module, "API_KEY", None))
        yield process


@pytest.fixture
def unhurried(pytester: pytest.Pytester) -> tuple[str, ...]:
    """Options for a session whose runs must be saved as baselines: ~100 ms requests and a lenient
    lag limit, so a busy test machine never marks the client saturated (such a run is neither gated
    nor saved), which the ~1 ms requests of the ``fast`` profile cannot promise."""
    profile = pytester.path / "unhurried.yaml"
    profile.write_text("base: fast\nttft_base: 0.1\n")
    return ("--perf-emulator-profile", str(profile), "--perf-max-client-lag", "1")
