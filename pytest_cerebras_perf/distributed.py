"""pytest-xdist: one endpoint, one results file, one report, one baseline update.

Workers measure and gate (each reads the baseline file, never writes it) but write no file: each
test's report carries the scenario runs it measured to the controller (so a Ctrl-C of the controller
keeps every scenario that finished), the rest of the session goes through ``workeroutput`` at the
end, and the controller writes every artifact once, as a serial run would. For the emulator target the controller starts
ONE emulator and gives its URL and key to every worker (``workerinput``), so all of them measure
the same server; their scenarios then run in parallel against it, which the controller says.

The xdist hooks live in :class:`ControllerHooks`, registered only on an xdist controller: pluggy
rejects hook implementations whose specs a missing xdist never registered.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import queue
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the session (SDK, scipy) loads only when a perf test runs
    from .session import Measured, PerfSession

MEASURED = "cerebras_perf_measured"
RECORDS = "cerebras_perf_records"  # an attribute of a worker's test report (xdist serializes it)
_SENT = pytest.StashKey[int]()
# How long an interrupted controller waits for its workers to hand over what they measured.
HANDOVER_TIMEOUT_S = 15.0
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


def _unsent(config: pytest.Config, perf: PerfSession) -> list[Any]:
    sent = config.stash.get(_SENT, 0)
    config.stash[_SENT] = len(perf.records)
    return perf.records[sent:]


def attach_records(config: pytest.Config, perf: PerfSession, report: pytest.TestReport) -> None:
    """Worker side: the scenario runs measured since the last report ride on this one. They travel
    pickled (execnet carries plain data), so the controller builds every artifact from the same
    objects a serial run would have."""
    records = _unsent(config, perf)
    if records:
        setattr(report, RECORDS, base64.b64encode(pickle.dumps(records)).decode())


def hand_over(config: pytest.Config, perf: PerfSession) -> None:
    """Worker side, at the end: the runs no report carried and how the session ended."""
    measured = perf.measured()
    measured.records = _unsent(config, perf)
    config.workeroutput[MEASURED] = pickle.dumps(measured)  # type: ignore[attr-defined]


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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, RECORDS, None)
        if data is not None:  # our own worker's records, over xdist's channel
            from .session import Measured  # loaded by now: this controller measures with it

            self._absorb(Measured(pickle.loads(base64.b64decode(data)), None, None, None, []))

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(MEASURED)
        if data is None:
            if error is not None:  # its measurements are lost: the files must not look complete
                self.perf.mark_partial("a pytest-xdist worker went down")
            return
        self._absorb(pickle.loads(data))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Interrupted (Ctrl-C, SIGTERM): before xdist tears the workers down, interrupt them too and
        collect what they measured, the scenario each was in the middle of included."""
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self._collect_interrupted(session.config.pluginmanager.getplugin("dsession"))

    def _collect_interrupted(self, dsession: Any) -> None:
        nodes = set(getattr(dsession, "_active_nodes", ()))
        events = getattr(dsession, "queue", None)
        if not nodes or events is None:
            return
        for node in nodes:
            pid = getattr(getattr(getattr(node.gateway, "_io", None), "popen", None), "pid", None)
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + HANDOVER_TIMEOUT_S
        while nodes and time.monotonic() < deadline:
            try:
                name, kwargs = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if name == "testreport":
                self.pytest_runtest_logreport(kwargs["rep"])
            elif name in ("workerfinished", "errordown"):
                self.pytest_testnodedown(kwargs["node"], kwargs.get("error"))
                nodes.discard(kwargs["node"])

    def _absorb(self, measured: Measured) -> None:
        self.perf.absorb(measured)
        self.perf.records.sort(key=lambda record: self.order.get(record.nodeid, len(self.order)))
