"""A real Ray cluster on this machine, for the ``--perf-ray`` tests and benchmarks/ray_capacity.py.

``ray start`` launches a head and more nodes, each on its own loopback address (127.0.0.2, .3, ...:
Ray turns 127.0.0.1 into the machine's outward address, and its servers bind to the node's address),
with its own ``--temp-dir`` so that its session logs can be read. ``ray stop`` would stop every Ray
process of the machine, other users' included; instead every process this cluster started carries a
marker in its environment, and :meth:`stop` ends exactly those, by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

MARKER = "CEREBRAS_PERF_TEST_RAY_CLUSTER"
OBJECT_STORE_BYTES = 80 * 1024 * 1024
STOP_TIMEOUT_S = 10.0


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LocalRayCluster:
    """``nodes`` Ray nodes of one CPU each; ``address`` is what ``--perf-ray`` takes."""

    def __init__(self, temp_dir: Path, nodes: int = 2) -> None:
        self.temp_dir = temp_dir
        self.nodes = nodes
        self.marker = uuid.uuid4().hex
        head = "127.0.0.2"
        self.address = f"{head}:{_free_port(head)}"

    def _ray(self, *args: str) -> None:
        ray = Path(sys.executable).with_name("ray")
        env = {**os.environ, MARKER: self.marker, "RAY_USAGE_STATS_ENABLED": "0"}
        common = ["--num-cpus=1", f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={self.temp_dir}"]
        subprocess.run([str(ray), "start", *args, *common], env=env, check=True, capture_output=True, timeout=180)

    def start(self) -> str:
        host, port = self.address.split(":")
        self._ray("--head", f"--node-ip-address={host}", f"--port={port}", "--include-dashboard=false")
        for index in range(1, self.nodes):
            self._ray(f"--address={self.address}", f"--node-ip-address=127.0.0.{2 + index}")
        return self.address

    def processes(self) -> set[int]:
        """Every live process this cluster started (its daemons, workers and actors)."""
        found: set[int] = set()
        needle = f"{MARKER}={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.add(int(entry.name))
            except OSError:
                continue  # gone meanwhile, or not ours to read
        return found

    def stop(self) -> None:
        """SIGKILL what this cluster started, again until nothing is left (daemons respawn workers)."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while (pids := self.processes()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def __enter__(self) -> LocalRayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
