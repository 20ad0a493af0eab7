"""A small version of benchmarks/llamacpp_reruns.py: baselines saved on three "days" from fresh
llama-server processes, an unchanged session on a fresh process passes, the 4x slower model fails.

The tolerances are those of a shared 2-core CI machine, not the defaults: the client, the server and
whatever else the machine runs share the cores, and a whole session of this millisecond-scale model
once ran 55 % slower than its three baselines in CI (every metric, the server's own time too), more
than three baseline sessions can teach the drift estimate. Latency may double and tokens/s halve
before a change counts; the slow model (~4x) is still far beyond that. The default tolerances'
false-alarm rate on this server is benchmarks/llamacpp_reruns.py's figure, measured, not asserted."""

from __future__ import annotations

from pathlib import Path

from llamacpp import LLAMA_SERVER_LENGTH_FIELDS, Session, date_last_runs, ensure_built, llama_server, perf_session
from tiny_gguf import write_model

SUITE = """
import pytest

@pytest.mark.scenario(name="short", prompt="Say something.", max_completion_tokens=32, min_completion_tokens=32,
                      tolerances={"ttft": 1.0, "e2e": 1.0, "server_total": 1.0, "output_tps": 0.5})
def test_short(cerebras_call):
    cerebras_call()
"""
BASELINES = 3


def session(work: Path, model: Path, name: str, *args: str) -> Session:
    """One plugin session on a fresh llama-server process."""
    with llama_server(ensure_built(), model, work / f"{name}.log") as server:
        return perf_session(
            work / "suite", server, name, "--iterations", "8",
            "--perf-length-fields", LLAMA_SERVER_LENGTH_FIELDS, "--perf-max-client-lag", "0.05", *args,
        )  # fmt: skip


def test_unchanged_server_passes_and_a_4x_slower_model_fails(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_suite.py").write_text(SUITE)
    normal, slow = write_model(tmp_path / "normal.gguf", "normal"), write_model(tmp_path / "slow.gguf", "slow")
    for day in range(BASELINES):
        saved = session(tmp_path, normal, f"baseline-{day}", "--perf-save", "--perf-no-gate")
        assert saved.exit_code == 0, saved.output
        date_last_runs(tmp_path / "baselines", BASELINES - day)
    unchanged = session(tmp_path, normal, "unchanged")
    assert unchanged.exit_code == 0, unchanged.output
    gated = {v["metric"]: v["verdict"] for v in unchanged.results["scenarios"][0]["gate"]}
    assert "regression" not in gated.values(), gated  # "underpowered" is a pass that says what it could not see
    slower = session(tmp_path, slow, "slow")
    assert slower.exit_code == 1, slower.output
    verdicts = {v["metric"]: v["verdict"] for v in slower.results["scenarios"][0]["gate"]}
    regressed = {metric for metric, verdict in verdicts.items() if verdict == "regression"}
    assert regressed & {"e2e", "output_tps", "server_total"}, verdicts  # the decode got slower
