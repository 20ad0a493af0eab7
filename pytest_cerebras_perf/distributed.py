"""pytest-xdist: one endpoint, one results file, one report, one baseline update.

Workers measure and gate (each reads the baseline file, never writes it) but write no file: at the
end each hands what it measured to the controller through ``workeroutput``, and the controller
writes every artifact once, as a serial run would. For the emulator target the controller starts
ONE emulator and gives its URL and key to every worker (``workerinput``), so all of them measure
the same server; their scenarios then run in parallel against it, which the controller says.

The xdist hooks live in :class:`ControllerHooks`, registered only on an xdist controller: pluggy
rejects hook implementations whose specs a missing xdist never registered.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the session (SDK, scipy) loads only when a perf test runs
    from .session import Measured, PerfSession

MEASURED = "cerebras_perf_measured"
EMULATOR = "cerebras_perf_emulator"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """xdist registers its scheduler as ``dsession`` only when it distributes (``-n N``, ``--dist``)."""
    return config.pluginmanager.hasplugin("dsession")


def shared_emulator(config: pytest.Config) -> tuple[str, str] | None:
    """The (url, key) of the emulator this worker's controller started, if it started one."""
    shared = getattr(config, "workerinput", {}).get(EMULATOR)
    return (str(shared["url"]), str(shared["key"])) if shared else None


def hand_over(config: pytest.Config, perf: PerfSession) -> None:
    """Worker side: give the controller what was measured. The records travel pickled (execnet
    carries plain data and bytes), so the controller builds every artifact from the same objects a
    serial run would have."""
    config.workeroutput[MEASURED] = pickle.dumps(perf.measured())  # type: ignore[attr-defined]


class ControllerHooks:
    """The controller's half: share the endpoint, collect the workers' records in test order."""

    def __init__(self, perf: PerfSession) -> None:
        self.perf = perf
        self.order: dict[str, int] = {}

    def pytest_configure_node(self, node: Any) -> None:
        endpoint = self.perf.endpoint
        if endpoint is not None and endpoint.kind == "emulator":
            node.workerinput[EMULATOR] = {"url": endpoint.base_url, "key": endpoint.api_key.reveal()}

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.order:
            self.order = {nodeid: index for index, nodeid in enumerate(ids)}

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(MEASURED)
        if data is None:
            if error is not None:  # its measurements are lost: the files must not look complete
                self.perf.partial_reason = self.perf.partial_reason or "a pytest-xdist worker went down"
            return
        measured: Measured = pickle.loads(data)  # our own worker, over xdist's channel
        self.perf.absorb(measured)
        self.perf.records.sort(key=lambda record: self.order.get(record.nodeid, len(self.order)))
