"""Real llama.cpp servers for the compatibility tests: built once, cached outside the repository.

``python tests/llamacpp.py build`` (what ``.ci/run`` does) downloads llama-cpp-python's sdist from
PyPI, builds llama.cpp's C++ ``llama-server`` from the llama.cpp source vendored in it (CPU only,
``GGML_NATIVE=OFF``, Release, shared libraries, only the ``llama-server`` target, ``-j2``), and
installs llama-cpp-python's own server (``llama_cpp.server``, extra ``[server]``) into a venv of its
own without compiling llama.cpp a second time: its ctypes bindings load the shared libraries of the
same build (``LLAMA_CPP_LIB_PATH``). Everything lands in ``$CEREBRAS_PERF_LLAMACPP_DIR`` (default
``~/.cache/cerebras-perf-llamacpp``) and is reused when present, so only the first run pays for the
compile (tens of minutes on 2 busy cores). Tests call :func:`ensure_built` and so build the same
way when nothing is there yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock

VERSION = "0.3.36"
DIR_ENV = "CEREBRAS_PERF_LLAMACPP_DIR"
DEFAULT_DIR = Path.home() / ".cache" / "cerebras-perf-llamacpp"
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # else the build downloads the web UI
    "-DLLAMA_BUILD_APP=OFF",
)
START_TIMEOUT = 120.0
CONTEXT = 16384  # the shipped suite's long document is ~10k tokens in the tiny model's character vocabulary
LLAMA_SERVER_LENGTH_FIELDS = "max_tokens,ignore_eos"  # what the README tells llama.cpp users to set
DAY_S = 86_400.0


@dataclass(frozen=True)
class Build:
    """Where the built servers are."""

    root: Path

    @property
    def llama_server(self) -> Path:
        return self.root / "build" / "bin" / "llama-server"

    @property
    def libraries(self) -> Path:
        return self.root / "build" / "bin"

    @property
    def python(self) -> Path:
        return self.root / "pyvenv" / "bin" / "python"

    @property
    def stamp(self) -> Path:
        return self.root / f"built-{VERSION}"


def build_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR).expanduser()


def _run(command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError(f"{' '.join(command[:3])}... failed ({done.returncode}); end of {log}:\n" + "\n".join(tail))


def _step(name: str, started: float) -> None:
    print(f"llama.cpp {name}: {time.monotonic() - started:.0f} s", flush=True)


def ensure_built(root: Path | None = None) -> Build:
    """The servers of ``root`` (default :func:`build_dir`), built first if they are not there yet."""
    build = Build(root or build_dir())
    if build.stamp.exists():
        return build
    build.root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(build.root / "build.lock")):
        if not build.stamp.exists():
            _build(build)
    return build


def _build(build: Build) -> None:
    root = build.root
    started = time.monotonic()
    sdist = root / "sdist" / f"llama_cpp_python-{VERSION}.tar.gz"
    if not sdist.exists():
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"llama-cpp-python=={VERSION}",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-q",
                "-d",
                str(sdist.parent),
            ],
            root / "download.log",
        )
        _step("sdist download", started)
    source = root / "src" / f"llama_cpp_python-{VERSION}"
    if not source.exists():
        with tarfile.open(sdist) as archive:
            archive.extractall(root / "src", filter="data")
    if not build.llama_server.exists():
        step = time.monotonic()
        vendored = source / "vendor" / "llama.cpp"
        _run(["cmake", "-S", str(vendored), "-B", str(root / "build"), *CMAKE_OPTIONS], root / "configure.log")
        _run(["cmake", "--build", str(root / "build"), "--target", "llama-server", "-j2"], root / "build.log")
        _step("llama-server compile (cmake, -j2)", step)
    if not build.python.exists():
        step = time.monotonic()
        _run([sys.executable, "-m", "venv", str(root / "pyvenv")], root / "pyinstall.log")
        env = {**os.environ, "CMAKE_ARGS": "-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF"}  # reuse the libraries above
        _run([str(build.python), "-m", "pip", "install", "-q", f"{sdist}[server]"], root / "pyinstall.log", env)
        _step("llama-cpp-python[server] install", step)
    build.stamp.write_text(f"{VERSION}\n")
    _step("build total", started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One server process on a loopback port, started and waited for; stopped on exit."""

    def __init__(self, command: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.command = command
        self.port = port
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.command[0]} did not answer within {START_TIMEOUT:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def llama_server(build: Build, model: Path, log: Path, *, alias: str = "tiny") -> Server:
    """llama.cpp's C++ server on ``model``: one slot, one thread, the model's chatml template (jinja)."""
    port = free_port()
    command = [str(build.llama_server), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-c", str(CONTEXT), "-np", "1", "-t", "1", "--jinja", "--alias", alias, "--no-webui", "--metrics"]
    return Server(command, port, log)


def llama_cpp_python_server(build: Build, model: Path, log: Path, *, alias: str = "tiny") -> Server:
    """llama-cpp-python's server on ``model``, loading the libraries of the same build."""
    port = free_port()
    env = {**os.environ, "LLAMA_CPP_LIB_PATH": str(build.libraries), "MTMD_CPP_LIB": str(build.libraries)}
    command = [str(build.python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(CONTEXT), "--n_threads", "1"]
    return Server(command, port, log, env)


def metric(server: Server, name: str) -> float:
    """One counter of llama-server's Prometheus ``/metrics`` (``--metrics``), e.g. ``tokens_predicted_total``."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(f"llamacpp:{name} "):
                return float(line.split()[1])
    raise KeyError(name)


def post(server: Server, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{server.url}{path}", json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@dataclass(frozen=True)
class Session:
    """One pytest session of the plugin against a server: exit code, output and results JSON."""

    exit_code: int
    output: str
    results: dict[str, Any]

    @property
    def samples(self) -> list[dict[str, Any]]:
        return [s for scenario in self.results["scenarios"] for s in scenario["samples"]]


def perf_session(suite: Path, server: Server, name: str, *args: str) -> Session:
    """``pytest <suite> -p cerebras_perf --perf-base-url <server>`` in a subprocess, as a user runs it;
    baselines in ``<suite>/../baselines``, results in ``<suite>/../<name>.json``."""
    work = suite.parent
    results = work / f"{name}.json"
    command = [sys.executable, "-m", "pytest", str(suite), "-p", "cerebras_perf", "-p", "no:randomly", "-q"]
    command += ["-p", "no:cacheprovider", "--rootdir", str(work), "--perf-base-url", server.url]
    command += ["--perf-json", str(results), "--perf-report", "none", "--perf-seed-results", "none"]
    command += ["--perf-baseline-dir", str(work / "baselines"), *args]
    env = {k: v for k, v in os.environ.items() if k != "CEREBRAS_API_KEY"}
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env, check=False)
    output = done.stdout + done.stderr
    if not results.exists():
        raise RuntimeError(f"the session wrote no results ({done.returncode}):\n{output[-3000:]}")
    return Session(done.returncode, output, json.loads(results.read_text()))


def date_last_runs(baselines: Path, days_ago: float) -> None:
    """Move every scenario's last accepted run ``days_ago`` days back (its ``accepted`` field, the
    baseline file's documented timestamp): runs saved minutes apart then count as separate sessions
    for the gate's drift estimate (``GatePolicy.session_gap``), as the saves of separate days would."""
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=DAY_S * days_ago)
    for path in baselines.rglob("*.json"):
        document = json.loads(path.read_text())
        for entry in document["scenarios"].values():
            entry["runs"][-1]["accepted"] = when.isoformat(timespec="seconds")
        path.write_text(json.dumps(document, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description="build the llama.cpp servers the compatibility tests use")
    parser.add_argument("command", choices=["build", "where"])
    args = parser.parse_args()
    if args.command == "where":
        print(build_dir())
        return
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        sys.exit("llama.cpp build: needs cmake and a C++ compiler (apt-get install cmake g++)")
    started = time.monotonic()
    build = ensure_built()
    print(f"llama.cpp servers in {build.root} ({time.monotonic() - started:.0f} s this run)")


if __name__ == "__main__":
    main()
