"""The pool's own logic over scripted links (the seam between the pool and where its workers run):
each worker's self-check is judged on its own figures, and a lost worker keeps what it sent."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from pytest_cerebras_perf.load import LoadPlan, LoadResult, Outcome, aggregate
from pytest_cerebras_perf.metrics import SampleError
from pytest_cerebras_perf.workers import ClientPool, WorkerLost

MAX_CLIENT_LAG = 0.010
FAILED = Outcome(retries=0, error=SampleError("server_error", 500, "boom"))


class ScriptedLinks:
    """Workers that answer every ``measure`` with the messages scripted for them."""

    start_margin_ns = 0

    def __init__(self, scripts: list[list[tuple[str, Any]]]) -> None:
        self.scripts = scripts
        self.inbox: list[tuple[int, tuple[str, Any]]] = []
        self.sent: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.scripts)

    def name(self, index: int) -> str:
        return f"worker {index}"

    def send(self, index: int, command: str, args: Any) -> None:
        self.sent.append((index, command))
        if command == "measure":
            self.inbox.extend((index, message) for message in self.scripts[index])

    def receive(self, pending: Collection[int], timeout: float | None) -> list[tuple[int, tuple[str, Any]]]:
        messages, self.inbox = self.inbox, []
        return messages

    def close(self) -> None:
        pass


def summary(loop_lag: list[float]) -> tuple[str, LoadResult]:
    return ("ok", LoadResult(loop_lag=loop_lag))


PLAN = LoadPlan(iterations=1, warmup=0, concurrency=2)


def test_one_saturated_worker_marks_the_run_though_the_pooled_figures_look_healthy() -> None:
    healthy = [("outcome", (FAILED, 0.0)), summary([0.0] * 1000)]
    stalled = [("outcome", (FAILED, 0.0)), summary([0.05] * 5)]
    pool = ClientPool(ScriptedLinks([healthy, stalled]), max_client_lag=MAX_CLIENT_LAG)
    result = pool.run("m", {}, PLAN)
    pooled = LoadResult(samples=result.samples, loop_lag=result.loop_lag, dispatch_lag=result.dispatch_lag)
    assert not aggregate(pooled, MAX_CLIENT_LAG)["client_saturated"]  # averaged away...
    assert result.saturated_clients == ["worker 1"]  # ...but judged alone it is saturated
    assert aggregate(result, MAX_CLIENT_LAG)["client_saturated"]


def test_a_lost_worker_keeps_its_samples_and_gets_no_share_later() -> None:
    finished = [("outcome", (FAILED, 0.0)), summary([0.0])]
    dies = [("outcome", (FAILED, 0.0)), ("outcome", (FAILED, 0.0)), ("lost", "ActorDiedError: killed")]
    links = ScriptedLinks([finished, dies])
    pool = ClientPool(links, max_client_lag=MAX_CLIENT_LAG)
    result = LoadResult()
    with pytest.raises(WorkerLost, match=r"worker 1 was lost mid-run \(ActorDiedError: killed\): its 2 completed"):
        pool.run("m", {}, PLAN, result)
    assert len(result.samples) == 3 and pool.completed() == {0: 1, 1: 2}
    links.sent.clear()
    pool.run("m", {}, PLAN)
    assert links.sent == [(0, "measure")]  # the lost worker gets no share any more
