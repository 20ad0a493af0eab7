"""pytest-cerebras-perf: LLM-inference latency and throughput as pytest tests with a statistical gate."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-cerebras-perf")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
