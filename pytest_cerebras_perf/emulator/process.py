"""Running the emulator as a child process that never outlives its parent.

The emulator runs in its own process so it never competes with the measuring client for the GIL.
Three layers keep it from becoming an orphan: ``stop()`` (SIGTERM, then SIGKILL), an ``atexit``
fallback for a normal interpreter exit, and on Linux ``PR_SET_PDEATHSIG`` so even a SIGKILLed
parent takes the child with it. The child gets its own session, so a Ctrl-C at the terminal reaches
only the parent, which then stops the child in order instead of both dying mid-request.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the child exits: call ``start()`` from a
thread that lives as long as the emulator should (pytest's main thread does).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any

PR_SET_PDEATHSIG = 1
_POLL_INTERVAL_S = 0.05
_LOG_TAIL_CHARS = 2000


class EmulatorError(RuntimeError):
    """The emulator did not start, or an admin call failed; the message carries the reason."""


def die_with_parent(parent_pid: int) -> None:
    """preexec_fn: ask Linux to SIGTERM us when the parent dies, and catch a parent that already did."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


class EmulatorProcess:
    """One emulator child process plus a synchronous client for its admin API.

    Use as ``with EmulatorProcess() as emulator: url = emulator.start("fast")``.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmulatorError("the emulator is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(
        self,
        profile: str = "fast",
        api_key: str | None = None,
        overrides: Mapping[str, object] | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 15.0,
    ) -> str:
        """Start the child, wait for its URL line and a working ``GET /v1/models``; return the URL."""
        if self._process is not None:
            raise EmulatorError(f"already running at {self._url}")
        command = [
            sys.executable,
            "-m",
            "pytest_cerebras_perf.emulator",
            "--host",
            host,
            "--port",
            "0",
            "--profile",
            profile,
        ]
        for name, value in (overrides or {}).items():
            command += ["--set", f"{name}={json.dumps(value)}"]
        if api_key is not None:
            command += ["--api-key", api_key]
        deadline = time.monotonic() + startup_timeout
        # Kept open for the child's lifetime (and read after it); a file, not a pipe, so a chatty
        # child can never block on a full pipe that nobody reads.
        self._log = tempfile.TemporaryFile(prefix="cerebras-emulator-", suffix=".log")  # noqa: SIM115
        parent_pid = os.getpid()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=(lambda: die_with_parent(parent_pid)) if sys.platform.startswith("linux") else None,
        )
        atexit.register(self.stop)
        try:
            self._url = self._read_url(deadline)
            self._wait_until_serving(api_key, deadline)
        except BaseException:
            self.stop()
            raise
        return self._url

    def _read_url(self, deadline: float) -> str:
        process = self._process
        assert process is not None and process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise EmulatorError(f"the emulator printed no URL in time{self._log_tail()}")
        line = process.stdout.readline().decode().strip()
        if not line.startswith("http"):
            process.wait(timeout=5.0)
            raise EmulatorError(f"the emulator exited with status {process.returncode}{self._log_tail()}")
        return line

    def _wait_until_serving(self, api_key: str | None, deadline: float) -> None:
        headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
        while True:
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(f"{self.url}/v1/models", headers=headers), timeout=1.0
                ):
                    return
            except (urllib.error.URLError, OSError) as error:
                if time.monotonic() > deadline:
                    raise EmulatorError(f"the emulator at {self.url} did not answer: {error}") from error
                time.sleep(_POLL_INTERVAL_S)

    def _log_tail(self) -> str:
        text = self.log_text()[-_LOG_TAIL_CHARS:].strip()
        return f": {text}" if text else ""

    def log_text(self) -> str:
        """What the emulator wrote to stderr so far (warnings such as falling behind schedule)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Safe to call more than once."""
        process, self._process, self._url = self._process, None, None
        atexit.unregister(self.stop)
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _admin(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise EmulatorError(f"{method} /_emulator/{path}: {error.read().decode(errors='replace')}") from error

    def set_faults(self, faults: Sequence[Mapping[str, object]]) -> None:
        self._admin("POST", "faults", {"faults": list(faults)})

    def set_profile(self, changes: Mapping[str, object]) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("POST", "profile", dict(changes))
        return result

    def truth(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self._admin("GET", "truth")["records"]
        return records

    def clear_truth(self) -> None:
        self._admin("DELETE", "truth")

    def drift(self) -> dict[str, Any]:
        """This start's session drift: ``tau``, ``seed``, ``factor`` and ``source``."""
        drift: dict[str, Any] = self._admin("GET", "drift")
        return drift

    def set_drift(self, factor: float) -> dict[str, Any]:
        """Impose a drift factor on every request from now on (1.0 = none)."""
        drift: dict[str, Any] = self._admin("POST", "drift", {"factor": factor})
        return drift

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "stats")
        return stats

    def reset(self) -> None:
        self._admin("POST", "reset")

    def clock_offset_ns(self) -> int:
        """Server ``monotonic_ns`` minus this process's ``perf_counter_ns`` at the call's midpoint.

        On Linux both are CLOCK_MONOTONIC, so this is ~0 give or take half a round trip; a benchmark
        subtracting server from client timestamps can add it to stay correct elsewhere.
        """
        before = time.perf_counter_ns()
        server = self._admin("GET", "clock")["monotonic_ns"]
        after = time.perf_counter_ns()
        return int(server) - (before + after) // 2
