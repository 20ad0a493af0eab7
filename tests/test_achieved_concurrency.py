"""The load the endpoint saw: achieved concurrency against the emulator's ground truth, the
saturation flag (``aggregate.client``) when the client is the bottleneck, and the request id header."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from perf_sessions import PLUGIN
from present import present

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import Harness, LoadPlan, LoadResult, achieved_concurrency, aggregate, run_measured, warm
from pytest_cerebras_perf.request_id import REQUEST_ID_HEADER
from pytest_cerebras_perf.results_doc import Aggregate
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.settings import Secret
from pytest_cerebras_perf.target import Endpoint

MODEL = "llama-3.3-70b"
API_KEY = "achieved-concurrency-key"
REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 16}
MAX_CLIENT_LAG = 0.010
LENIENT_LAG = 1.0  # these tests are about the load offered, not about a busy machine's event loop


@pytest.fixture
def endpoint(emulator: EmulatorProcess) -> Iterator[Endpoint]:
    emulator.set_profile(load_profile("fast").to_dict())
    emulator.reset()
    yield Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")


def measure(endpoint: Endpoint, plan: LoadPlan, request: Mapping[str, Any] = REQUEST) -> LoadResult:
    async def go() -> LoadResult:
        async with Harness(
            endpoint, pool_size=plan.concurrency, timeout=30.0, policy=RetryPolicy(retries=0)
        ) as harness:
            await warm(harness, MODEL, request, plan)
            return await run_measured(harness, MODEL, request, plan, LoadResult())

    return asyncio.run(go())


def truth_achieved(emulator: EmulatorProcess, result: LoadResult, requested: int) -> float | None:
    """The same average over the emulator's own arrival-to-end records of the measured requests."""
    measured = {s.request_id for s in result.samples}
    intervals = [(r["arrival_ns"], r["end_ns"]) for r in emulator.truth() if r["request_id"] in measured]
    return achieved_concurrency(intervals, requested)


def test_achieved_concurrency_averages_the_steady_window() -> None:
    """Two slots: the window runs from the second send to the last send; the closing tail, where
    the last stream runs alone, is the plan running out and does not count."""
    intervals = [(0, 10), (2, 12), (10, 20), (12, 40)]  # sends at 0, 2, 10, 12; the last runs to 40
    assert achieved_concurrency(intervals, 2) == pytest.approx(2.0)
    gappy = [(0, 10), (5, 15), (20, 30), (25, 35)]  # each slot idles 10 between its two requests
    assert achieved_concurrency(gappy, 2) == pytest.approx((5 + 10 + 5) / 20)
    assert achieved_concurrency([(0, 10), (0, 10)], 2) == pytest.approx(2.0)  # one round: the whole run
    assert achieved_concurrency([], 4) is None


def test_a_client_that_cannot_keep_up_is_flagged_with_the_figure(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """64 streams of ~2 ms requests: every request waits for the SDK to build the 63 before it, so
    the endpoint never sees more than a few in flight. The flag says so, with the figure the
    emulator's ground truth confirms."""
    requested = 64
    result = measure(endpoint, LoadPlan(iterations=2, warmup=1, concurrency=requested))
    figures = aggregate(result, MAX_CLIENT_LAG, requested=requested)
    truth = truth_achieved(emulator, result, requested)
    assert figures["requested_concurrency"] == requested and figures["ok"] == 2 * requested
    assert (
        present(figures.get("achieved_concurrency")) < 0.5 * requested and truth is not None and truth < 0.5 * requested
    )
    assert (
        present(figures["client"]["pre_send_wait_p99"]) > MAX_CLIENT_LAG
    )  # the waits are material: the client's doing
    assert figures["client"]["saturated"] is True  # whether or not a busy machine also delayed its event loop
    assert figures["client"]["saturation"] in ("pre_send", "event_loop")


def test_a_client_that_keeps_up_is_not_flagged(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """4 streams of ~0.2 s requests: the client's few milliseconds between requests leave the
    endpoint with (nearly) 4 in flight, as the ground truth shows, and no flag."""
    emulator.set_profile({"ttft_base": 0.2})
    requested = 4
    result = measure(endpoint, LoadPlan(iterations=3, warmup=1, concurrency=requested))
    figures = aggregate(result, LENIENT_LAG, requested=requested)
    truth = truth_achieved(emulator, result, requested)
    assert figures["client"]["saturated"] is False and figures["client"]["saturation"] is None
    assert truth is not None and figures["achieved_concurrency"] == pytest.approx(truth, rel=0.15)
    assert present(figures.get("achieved_concurrency")) > 0.8 * requested


def test_one_stream_on_a_fast_endpoint_is_not_flagged() -> None:
    """A 5 ms request and 1.5 ms of SDK build between requests: the endpoint sees 0.77 in flight,
    but nothing waited for the client (issue 19): not saturation. 30 ms waits between 0.1 s
    requests at concurrency 2 are."""
    from pytest_cerebras_perf.metrics import Sample, Timing

    def closed_loop(request_s: float, wait_s: float, slots: int, rounds: int = 10) -> LoadResult:
        step, length = int((request_s + wait_s) * 1e9), int(request_s * 1e9)
        samples = [
            Sample(ok=True, timing=Timing(t0_ns=t0, first_event_ns=t0, first_token_ns=t0, end_ns=t0 + length))
            for i in range(rounds)
            for t0 in [i * step + slot * 1000 for slot in range(slots)]
        ]
        return LoadResult(samples=samples, dispatch_lag=[wait_s] * len(samples))

    fast = aggregate(closed_loop(0.005, 0.0015, 1), MAX_CLIENT_LAG, requested=1)
    assert present(fast.get("achieved_concurrency")) < 0.95 and fast["client"]["saturated"] is False
    behind = aggregate(closed_loop(0.1, 0.03, 2), MAX_CLIENT_LAG, requested=2)
    assert present(behind.get("achieved_concurrency")) < 0.95 * 2 and behind["client"]["saturation"] == "pre_send"
    lenient = aggregate(closed_loop(0.1, 0.03, 2), MAX_CLIENT_LAG, requested=2, min_achieved=0.5)
    assert lenient["client"]["saturated"] is False
    open_loop = aggregate(closed_loop(0.1, 0.03, 2), MAX_CLIENT_LAG)  # no requested C: the waiting share decides
    assert open_loop["requested_concurrency"] is None and open_loop["client"]["saturation"] == "pre_send"


def test_every_request_carries_its_id_in_the_x_request_id_header(emulator: EmulatorProcess, endpoint: Endpoint) -> None:
    """The emulator records the id it read from ``x-request-id`` (else it invents one): each
    sample's id is found there exactly once, so samples join with server logs."""
    assert REQUEST_ID_HEADER == "x-request-id"
    result = measure(endpoint, LoadPlan(iterations=2, warmup=1, concurrency=3))
    ids = [s.request_id for s in result.samples]
    seen = [r["request_id"] for r in emulator.truth()]
    assert len(ids) == 6 and all(ids) and len(set(ids)) == 6
    assert all(seen.count(request_id) == 1 for request_id in ids)
    assert not any(str(request_id).startswith("emulator-") for request_id in seen)


def test_the_summary_results_and_report_show_the_achieved_concurrency(pytester: pytest.Pytester) -> None:
    """End to end: a saturated run says what the endpoint saw next to the requested 64, is not
    gated, and its figure is in the results JSON and the HTML report."""
    pytester.makefile(".yaml", scenarios="scenarios:\n  s:\n    prompt: hi\n    max_completion_tokens: 4\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.scenario\ndef test_many(cerebras_call):\n    cerebras_call()\n")
    results, report = pytester.path / "results.json", pytester.path / "report.html"
    outcome = pytester.runpytest_subprocess(
        *PLUGIN, "--perf-target", "emulator", "--perf-emulator-profile", "fast",
        "--concurrency", "64", "--iterations", "2",
        "--perf-report", str(report), "--perf-seed-results", "none", "--perf-json", str(results),
    )  # fmt: skip
    outcome.assert_outcomes(passed=1)
    (scenario,) = json.loads(results.read_text())["scenarios"]
    figures = scenario["aggregate"]
    assert figures["client"]["saturated"] is True and figures["requested_concurrency"] == 64
    achieved = f"{figures['achieved_concurrency']:.1f} of 64"
    assert present(figures.get("achieved_concurrency")) < 0.95 * 64
    assert {v["verdict"] for v in scenario["gate"]} == {"not-gated"}
    text = outcome.stdout.str()
    assert f"the endpoint saw {achieved} requests in flight" in text and "what would help" in text
    assert achieved in report.read_text()


def test_the_advice_follows_the_cause() -> None:
    """A busy client is told to spread or shrink its load (the knob of the load it ran); an idle
    one that was late anyway, that other processes held the CPU."""
    from pytest_cerebras_perf.saturation import advice
    from pytest_cerebras_perf.settings import RawValues, Settings, resolve

    def settings(**cli: str) -> Settings:
        return resolve(RawValues(cli.get, lambda key: None, {}), root=Path("/p"), api_key=None)

    def used(cpu_seconds: float) -> Aggregate:
        """A one-second run (one request) whose client processes used ``cpu_seconds`` of CPU."""
        from pytest_cerebras_perf.metrics import Sample, Timing

        request = Sample(ok=True, timing=Timing(t0_ns=0, first_event_ns=0, first_token_ns=0, end_ns=10**9))
        return aggregate(LoadResult(samples=[request], cpu_seconds=cpu_seconds), MAX_CLIENT_LAG, requested=1)

    busy = used(0.9)
    assert "--perf-workers 2" in advice(busy, settings(), cores=2) and "--concurrency" in advice(busy, settings())
    assert "--request-rate" in advice(busy, settings(request_rate="20"), cores=2)
    assert "bigger machine" in advice(busy, settings(perf_workers="2"), cores=2)
    idle = used(0.1)
    assert "other processes" in advice(idle, settings(), cores=2) and "--perf-workers" in advice(
        idle, settings(), cores=2
    )
