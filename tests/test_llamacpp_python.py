"""The plugin against llama-cpp-python's server (``llama_cpp.server``, built by tests/llamacpp.py).

That server reads ``max_tokens`` and ``min_tokens`` (not ``max_completion_tokens``) and sends no
usage in streams, so before this suite pinned at 32 tokens generated hundreds and counted chunks
without a word. With the default length fields of a custom endpoint, a 32-token scenario now
produces 32 tokens even from the tiny model that would stop after 12, and the header says the
counts came from chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llamacpp import Build, Server, ensure_built, llama_cpp_python_server, perf_session
from tiny_gguf import write_model

SUITE = """
import pytest

@pytest.mark.scenario(name="pinned", prompt="Write thirty-two characters.", max_completion_tokens=32,
                      min_completion_tokens=32)
def test_pinned(cerebras_call):
    cerebras_call()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    build: Build = ensure_built()
    work = tmp_path_factory.mktemp("llama-cpp-python")
    (work / "suite").mkdir()
    (work / "suite" / "test_suite.py").write_text(SUITE)
    with llama_cpp_python_server(build, write_model(work / "stops.gguf", "stops"), work / "server.log") as running:
        yield running


def test_a_32_token_scenario_produces_32_tokens(server: Server) -> None:
    suite = Path(server.log).parent / "suite"
    session = perf_session(suite, server, "pinned", "--iterations", "3")
    assert session.exit_code == 0, session.output
    samples = session.samples
    assert [s["usage"]["completion_tokens"] for s in samples] == [32, 32, 32]
    assert all(len(s["content"]) == 32 for s in samples)  # one character per token: the chunk count is exact
    assert all(s["usage"]["source"] == "chunks" and s["usage"]["prompt_tokens"] is None for s in samples)
    assert "endpoint dialect: OpenAI-compatible without usage (llama-cpp-python-like); missing: server times" in (
        session.output
    )
    assert "3 of 3 responses sent no token counts" in session.output
    assert "not of the scenario's length" not in session.output
