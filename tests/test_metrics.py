"""Each metric's single definition (docs/metrics.md), on constructed timestamps."""

from __future__ import annotations

import pytest

from pytest_cerebras_perf.metrics import METRICS, Sample, SampleError, ServerTimes, Timing, Usage, metric_values

MS = 1_000_000


def sample(**changes: object) -> Sample:
    base: dict[str, object] = {
        "ok": True,
        "timing": Timing(
            t0_ns=0,
            first_event_ns=5 * MS,
            first_token_ns=100 * MS,
            end_ns=600 * MS,
            chunk_ns=(100 * MS, 101 * MS, 103 * MS),
            first_content_ns=150 * MS,
        ),
        "usage": Usage(prompt_tokens=10, completion_tokens=1001, total_tokens=1011, reasoning_tokens=200),
        "server": ServerTimes(queue_time=0.001, prompt_time=0.05, completion_time=0.45, total_time=0.5),
    }
    base.update(changes)
    return Sample(**base)  # type: ignore[arg-type]


def test_client_metrics() -> None:
    s = sample()
    assert s.ttfb == pytest.approx(0.005)
    assert s.ttft == pytest.approx(0.100)
    assert s.e2e == pytest.approx(0.600)
    assert s.decode_time == pytest.approx(0.500)
    assert s.tpot == pytest.approx(0.5 / 1000)
    assert s.output_tps == pytest.approx(1000 / 0.5)
    assert s.itl == pytest.approx([0.001, 0.002])  # per chunk, not per token
    assert s.ttfo == pytest.approx(0.150)  # first content token, after the reasoning
    assert (s.reasoning_tokens, s.content_tokens) == (200, 801)


def test_server_metrics_and_overhead() -> None:
    s = sample()
    assert s.server_total == 0.5 and s.server_queue == 0.001
    assert s.server_output_tps == pytest.approx(1001 / 0.45)
    assert s.network_overhead == pytest.approx(0.1)
    assert s.network_overhead_pct == pytest.approx(20.0)  # relative to SERVER time, as the study did


def test_missing_time_info_is_none_not_zero() -> None:
    s = sample(server=ServerTimes.from_time_info(None))
    assert s.server_total is None and s.network_overhead is None and s.server_output_tps is None
    assert s.value("server_total") is None
    partial = ServerTimes.from_time_info({"total_time": 0.2, "queue_time": "bad"})
    assert partial.total_time == 0.2 and partial.queue_time is None


def test_undefined_per_token_metrics() -> None:
    one = sample(usage=Usage(1, 1, 2))
    assert one.tpot is None and one.output_tps is None
    same_read = sample(timing=Timing(0, 5 * MS, 100 * MS, 100 * MS))
    assert same_read.tpot is None and same_read.output_tps is None
    no_token = sample(timing=Timing(0, 5 * MS, None, 50 * MS))
    assert no_token.ttft is None and no_token.decode_time is None


def test_failed_samples_have_no_latency() -> None:
    failed = Sample(ok=False, retries=3, error=SampleError("server_error", 500, "boom"))
    assert failed.value("e2e") is None
    assert failed.to_json()["error"] == {"kind": "server_error", "status": 500, "message": "boom"}
    assert metric_values([failed, sample()], "e2e") == pytest.approx([0.6])
    with pytest.raises(KeyError, match="unknown metric"):
        failed.value("speed")


def test_every_registered_metric_is_computable() -> None:
    s = sample()
    for name in METRICS:
        assert s.value(name) is not None, name
    assert METRICS["output_tps"].higher_is_better and not METRICS["ttft"].higher_is_better
