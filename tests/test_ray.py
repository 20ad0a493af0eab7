"""``--perf-ray`` on a real Ray cluster this module starts (a head and a second node, ``ray start``):
every request accounted for against the emulator's truth, an actor killed mid-run, the plugin's
files as a local run writes them, and a canary key found nowhere, Ray's session logs included."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from hostile_gateways import MODEL as ECHO_MODEL
from hostile_gateways import echoing_401_server
from perf_sessions import PLUGIN, session_files
from processes import alive, wait_for
from ray_cluster import LocalRayCluster

from pytest_cerebras_perf.emulator import EmulatorProcess, load_profile
from pytest_cerebras_perf.load import LoadPlan, LoadResult, Outcome, aggregate
from pytest_cerebras_perf.measure import RawStream
from pytest_cerebras_perf.ray_pool import RayPool, connect, measure_offset, on_driver_clock
from pytest_cerebras_perf.retry import RetryPolicy
from pytest_cerebras_perf.scenarios import build_scenario
from pytest_cerebras_perf.session import PerfSession
from pytest_cerebras_perf.settings import MIN_ACHIEVED_CONCURRENCY, RawValues, Secret, resolve
from pytest_cerebras_perf.target import Endpoint
from pytest_cerebras_perf.workers import PoolSpec, WorkerLost

MODEL = "llama-3.3-70b"
API_KEY = "ray-test-key-0123456789"
REQUEST = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 32}
STEADY = {"ttft_base": 0.05, "prompt_tps": 1e12, "decode_tps": 2000.0, "queue_time": 0.0, "jitter_sigma": 0.0}
MAX_CLIENT_LAG = 0.010  # the plugin's default
EIGHT_IN_FLIGHT = ("--concurrency", "8", "--perf-max-client-lag", "1")
CANARY_KEY = f"sk-canary-{secrets.token_hex(8)}"
TEST = """
    import pytest

    @pytest.mark.scenario(name="spread", prompt="hi", max_completion_tokens=16)
    def test_latency(cerebras_call):
        cerebras_call()
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    """The module's cluster; at the end not one of its processes may be left."""
    root = Path(tempfile.mkdtemp(prefix="cpr-"))  # short: Ray's socket paths live below it
    with LocalRayCluster(root / "ray", nodes=2) as started:
        connect(started.address)
        yield started
        ray.shutdown()
    assert started.processes() == set()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pool(cluster: LocalRayCluster, emulator: EmulatorProcess) -> Iterator[RayPool]:
    emulator.set_profile({**load_profile("fast").to_dict(), **STEADY})
    endpoint = Endpoint("emulator", emulator.url, Secret(API_KEY), "fast")
    spec = PoolSpec(
        endpoint,
        max_concurrency=8,
        timeout=30.0,
        policy=RetryPolicy(retries=0),
        max_client_lag=MAX_CLIENT_LAG,
        min_achieved=MIN_ACHIEVED_CONCURRENCY,
    )
    actors = RayPool(spec, address=None, actors=2)
    yield actors
    actors.close()
    pids = [identity["pid"] for identity in actors.links.identities]
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, "the actors' processes to end")


def legs_ms(result: LoadResult, truth: dict[str, dict[str, Any]], server: str, client: str) -> list[float]:
    """Where a difference from the truth arises, on the one clock: before the server saw a request
    (``arrival_ns`` - ``t0_ns``) or after it wrote the first token (read - write)."""
    legs = []
    for sample in result.samples:
        timing, record = sample.timing, truth[str(sample.request_id)]
        assert timing is not None
        stamp = getattr(timing, client)
        legs.append((record[server] - stamp if server == "arrival_ns" else stamp - record[server]) / 1e6)
    return legs


def test_eight_in_flight_over_two_nodes_are_the_emulators_truth(pool: RayPool, emulator: EmulatorProcess) -> None:
    """Every request is one the emulator served, each on the driver's clock, and the TTFT and e2e
    medians are within 3 ms of the truth."""
    plan = LoadPlan(iterations=6, warmup=1, concurrency=8)
    pool.warm(MODEL, REQUEST, plan)
    emulator.clear_truth()
    result = pool.run(MODEL, REQUEST, plan)
    truth = {record["request_id"]: record for record in emulator.truth()}
    figures = aggregate(result, MAX_CLIENT_LAG, requested=plan.concurrency)
    assert pool.links.nodes() == 2 and sorted(pool.completed().values()) == [24, 24]
    assert figures["ok"] + figures["errors"] == plan.requests == len(truth) == 48
    assert Counter(s.request_id for s in result.samples) == Counter(dict.fromkeys(truth, 1))
    for sample in result.samples:  # one clock: each request left before the server saw it, read after it wrote
        record, timing = truth[str(sample.request_id)], sample.timing
        assert timing is not None and timing.first_token_ns is not None
        assert timing.t0_ns < record["arrival_ns"] and timing.first_token_ns >= record["first_token_due_ns"]
    ttft = statistics.median(s.ttft or 0.0 for s in result.samples)
    e2e = statistics.median(s.e2e or 0.0 for s in result.samples)
    true_ttft = statistics.median((r["first_token_ns"] - r["arrival_ns"]) / 1e9 for r in truth.values())
    true_e2e = statistics.median((r["last_token_ns"] - r["arrival_ns"]) / 1e9 for r in truth.values())
    legs = (
        f"TTFT {1e3 * (ttft - true_ttft):+.2f} ms, e2e {1e3 * (e2e - true_e2e):+.2f} ms from the truth; "
        f"self-check {figures['client'].get('saturation') or 'green'}; "
        f"request leg (arrival - t0) median {statistics.median(legs_ms(result, truth, 'arrival_ns', 't0_ns')):.1f} ms, "
        f"first-token leg median {statistics.median(legs_ms(result, truth, 'first_token_ns', 'first_token_ns')):.1f} ms"
    )
    assert abs(ttft - true_ttft) < 0.003 and abs(e2e - true_e2e) < 0.003, legs
    assert len(result.loop_lag) > 0 and len(result.dispatch_lag) == 48  # both actors' self-checks came back
    assert all(clock.same_kernel and clock.offset_ns == 0 for clock in pool.links.clocks)


def _settings(root: Path, profile: Path, address: str) -> Any:
    given = {
        "iterations": "40",
        "warmup": "1",
        "perf_emulator_profile": str(profile),
        "perf_max_client_lag": "1",
        "perf_ray": address,
        "perf_ray_actors": "2",
        "perf_seed_results": "none",
    }
    return resolve(
        RawValues(lambda dest: given.get(dest), lambda ini: None, {}),
        root=root,
        api_key=None,
    )


def test_a_killed_actor_keeps_its_samples_and_the_run_is_partial(cluster: LocalRayCluster, tmp_path: Path) -> None:
    profile = tmp_path / "slow.yaml"
    profile.write_text("base: fast\nttft_base: 0.05\njitter_sigma: 0\n")
    perf = PerfSession(_settings(tmp_path, profile, cluster.address), root=tmp_path)
    perf.start()
    try:
        pool = perf._workers
        assert isinstance(pool, RayPool) and perf.notes[-1].startswith("--perf-ray: 2 client actor(s) on 2 node(s)")
        scenario = build_scenario("killed", {"prompt": "hi", "max_completion_tokens": 16}, where="test", base=tmp_path)
        raised: list[BaseException] = []

        def measure() -> None:
            try:
                perf.measure(scenario, 4, "test_ray.py::killed")
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=measure)
        thread.start()
        wait_for(lambda: min(pool.completed().values(), default=0) >= 3, 60, "both actors to finish requests")
        victim = pool.links.identities[1]["pid"]
        os.kill(victim, signal.SIGKILL)
        thread.join(60)
        record = perf.records[-1]
        kept = pool.completed()
        truth = {r["request_id"] for r in perf._emulator.truth() if r["outcome"] == "ok"}
    finally:
        perf.close()
    assert len(raised) == 1 and isinstance(raised[0], WorkerLost)
    assert "Ray actor 1" in str(raised[0]) and f"its {kept[1]} completed requests are kept" in str(raised[0])
    assert kept[0] >= 3 and kept[1] >= 3 and len(record.result.samples) == kept[0] + kept[1] < 160
    assert {s.request_id for s in record.result.samples if s.ok} <= truth
    assert not record.complete and perf.partial_reason is not None and "killed@c4" in perf.partial_reason
    assert not alive(victim)
    wait_for(lambda: not alive(pool.links.identities[0]["pid"]), 10, "the surviving actor to be stopped")


def _run(pytester: pytest.Pytester, out: Path, *options: str) -> pytest.RunResult:
    """The plugin in a pytest of its own, with every file it writes under ``out``."""
    return pytester.runpytest_subprocess(*PLUGIN, "--iterations", "2", *session_files(out), *options)


def _shape(document: Any) -> Any:
    """The document's keys all the way down, without its values."""
    if isinstance(document, dict):
        return {key: _shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_shape(document[0])] if document else []
    return None


def test_a_ray_run_writes_what_a_local_run_writes(pytester: pytest.Pytester, cluster: LocalRayCluster) -> None:
    pytester.makepyfile(TEST)
    local = _run(pytester, pytester.path / "local", *EIGHT_IN_FLIGHT)
    spread = _run(pytester, pytester.path / "ray", *EIGHT_IN_FLIGHT, "--perf-ray", cluster.address)
    local_results, spread_results = (
        json.loads((pytester.path / run / "results.json").read_text()) for run in ("local", "ray")
    )
    local.assert_outcomes(passed=1)
    spread.assert_outcomes(passed=1)
    spread.stdout.fnmatch_lines(["*--perf-ray: 2 client actor(s) on 2 node(s); clock offsets*"])
    assert _shape(spread_results["scenarios"]) == _shape(local_results["scenarios"])
    for results in (local_results, spread_results):
        (scenario,) = results["scenarios"]
        assert scenario["aggregate"]["requests"] == scenario["aggregate"]["ok"] == 16
    assert (pytester.path / "ray" / "report.html").stat().st_size > 0


def _files_holding(text: str, *roots: Path) -> list[str]:
    needle = text.encode()
    return [str(path) for root in roots for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_canary_key_reaches_no_output_file_or_ray_log(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cluster: LocalRayCluster
) -> None:
    pytester.makepyfile(TEST)
    out = pytester.path / "out"
    monkeypatch.setenv("CEREBRAS_API_KEY", CANARY_KEY)
    with echoing_401_server() as url:
        outcome = _run(
            pytester,
            out,
            *("--perf-base-url", url, "--model", ECHO_MODEL, "--warmup", "0", "--concurrency", "2"),
            *("--perf-ray", cluster.address, "--junitxml", str(out / "junit.xml"), "--showlocals", "--full-trace"),
        )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*spread@c2: all 4 requests failed*client_error 401 (Wrong API Key*"])
    assert (out / "results.json").exists() and (out / "junit.xml").exists()
    said = outcome.stdout.str() + outcome.stderr.str()
    assert CANARY_KEY not in said
    assert _files_holding(CANARY_KEY, pytester.path, cluster.temp_dir) == []
    assert any(cluster.temp_dir.rglob("python-core-worker-*.log"))  # the actors' own logs were searched too


def test_without_ray_perf_ray_is_one_line_saying_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(TEST)
    hidden = pytester.mkdir("no_ray")
    (hidden / "ray").mkdir()
    (hidden / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(hidden))
    outcome = pytester.runpytest_subprocess("-p", "cerebras_perf", "--perf-ray", "auto")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in outcome.stderr.lines if line.strip()]
    assert lines == [
        "ERROR: --perf-ray: needs Ray (No module named 'ray'); install it with pip install 'pytest-cerebras-perf[ray]'"
    ]


def test_an_actors_offset_is_within_half_its_fastest_round_trip() -> None:
    """The remote reading falls inside the call, so NTP's midpoint estimate is off by at most half the trip."""
    offset = 7_000_000_000

    def probe() -> int:
        time.sleep(0.001)
        return time.perf_counter_ns() + offset

    clock = measure_offset(probe, same_kernel=False, probes=5)
    assert abs(clock.offset_ns - offset) <= clock.uncertainty_ns and clock.uncertainty_ns >= 500_000
    assert measure_offset(probe, same_kernel=True, probes=2).offset_ns == 0  # one kernel, one clock


def test_every_stamp_moves_onto_the_driver_clock_and_intervals_stay() -> None:
    raw = RawStream("r", handed_ns=1_000, t0_ns=1_100, end_ns=5_000, chunks=[(2_000, b"a"), (3_000, b"b")], headers={})
    moved = on_driver_clock(Outcome(retries=1, scheduled_ns=900, raw=raw), 500)
    assert moved.raw is not None and moved.scheduled_ns == 400 and moved.retries == 1
    assert (moved.raw.handed_ns, moved.raw.t0_ns, moved.raw.end_ns) == (500, 600, 4_500)
    assert moved.raw.chunks == [(1_500, b"a"), (2_500, b"b")]
