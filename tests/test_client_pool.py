"""The pool's own logic over scripted links (the seam between the pool and where its workers run):
each worker's self-check is judged on its own figures, and a lost worker keeps what it sent."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from pytest_cerebras_perf.load import LoadPlan, LoadResult, Outcome, aggregate
from pytest_cerebras_perf.measure import RawStream
from pytest_cerebras_perf.metrics import SampleError
from pytest_cerebras_perf.workers import ClientPool, WorkerLost

MAX_CLIENT_LAG = 0.010
MIN_ACHIEVED = 0.95
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
BODY = (
    b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"b"}}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\ndata: [DONE]\n\n'
)


def finished(request_id: str, t0_s: float, seconds: float, waited_s: float) -> tuple[str, Any]:
    """A streamed ``outcome`` message: a successful request in flight from ``t0_s`` for ``seconds``,
    which waited ``waited_s`` for its client before reaching the socket."""
    t0, end, handed = int(t0_s * 1e9), int((t0_s + seconds) * 1e9), int((t0_s - waited_s) * 1e9)
    raw = RawStream(request_id, handed_ns=handed, t0_ns=t0, end_ns=end, chunks=[(end, BODY)], headers={})
    return ("outcome", (Outcome(retries=0, raw=raw), waited_s))


def test_one_saturated_worker_marks_the_run_though_the_pooled_figures_look_healthy() -> None:
    healthy = [("outcome", (FAILED, 0.0)), summary([0.0] * 1000)]
    stalled = [("outcome", (FAILED, 0.0)), summary([0.05] * 5)]
    pool = ClientPool(ScriptedLinks([healthy, stalled]), max_client_lag=MAX_CLIENT_LAG, min_achieved=MIN_ACHIEVED)
    result = pool.run("m", {}, PLAN)
    pooled = LoadResult(samples=result.samples, loop_lag=result.loop_lag, dispatch_lag=result.dispatch_lag)
    assert not aggregate(pooled, MAX_CLIENT_LAG)["client"]["saturated"]  # averaged away...
    assert result.saturated_workers == ["worker 1"]  # ...but judged alone it is saturated
    assert aggregate(result, MAX_CLIENT_LAG)["client"]["saturated"]


def test_a_lost_worker_keeps_its_samples_and_gets_no_share_later() -> None:
    finished = [("outcome", (FAILED, 0.0)), summary([0.0])]
    dies = [("outcome", (FAILED, 0.0)), ("outcome", (FAILED, 0.0)), ("lost", "ActorDiedError: killed")]
    links = ScriptedLinks([finished, dies])
    pool = ClientPool(links, max_client_lag=MAX_CLIENT_LAG, min_achieved=MIN_ACHIEVED)
    result = LoadResult()
    with pytest.raises(WorkerLost, match=r"worker 1 was lost mid-run \(ActorDiedError: killed\): its 2 completed"):
        pool.run("m", {}, PLAN, result)
    assert len(result.samples) == 3 and pool.completed() == {0: 1, 1: 2}
    links.sent.clear()
    pool.run("m", {}, PLAN)
    assert links.sent == [(0, "measure")]  # the lost worker gets no share any more


def test_a_worker_is_judged_against_its_own_share_of_the_slots() -> None:
    """Two workers with two slots each. The first keeps both busy; the second sends one request at a
    time (its SDK builds, not counted as waiting, keep the other slot idle) with waits of 20 ms on
    1 s requests: a 2 % share of its time, but it gave the endpoint one request of the two it owes."""
    both_busy = [finished(f"a{k}{slot}", 1.0 * k, 1.0, 0.0) for k in range(6) for slot in range(2)]
    one_busy = [finished(f"b{k}", 1.05 * k, 1.0, 0.02) for k in range(12)]
    pool = ClientPool(
        ScriptedLinks([[*both_busy, summary([0.0])], [*one_busy, summary([0.0])]]),
        max_client_lag=MAX_CLIENT_LAG,
        min_achieved=MIN_ACHIEVED,
    )
    result = pool.run("m", {}, LoadPlan(iterations=12, warmup=0, concurrency=4))
    assert result.saturated_workers == ["worker 1"]
    second = LoadResult(
        samples=[s for s in result.samples if (s.request_id or "").startswith("b")], dispatch_lag=[0.02] * 12
    )
    judged_by_slots = aggregate(second, MAX_CLIENT_LAG, requested=2, min_achieved=MIN_ACHIEVED)
    judged_by_share = aggregate(second, MAX_CLIENT_LAG, min_achieved=MIN_ACHIEVED)
    assert judged_by_slots["client"]["saturated"] and not judged_by_share["client"]["saturated"]
    assert judged_by_slots["achieved_concurrency"] == pytest.approx(1.0, abs=0.05)
