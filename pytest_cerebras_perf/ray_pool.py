"""Client workers on a Ray cluster (``--perf-ray ADDRESS``), for loads one machine cannot drive.

Each Ray actor runs the same worker as a ``--perf-workers`` process (:func:`workers.serve`: real SDK,
raw bytes timestamped, parsed after the window, its own self-check) in a thread of its own, and
speaks the same message protocol; :class:`ClientPool` splits the slots, collects the stream, keeps
what a lost actor sent and judges each actor's self-check. Only the transport differs:

- commands are actor calls, and the driver long-polls each actor for its messages, so every
  finished request reaches the driver as it completes (batched only when several are ready at
  once); a dead actor or node fails the poll, which the pool turns into :class:`WorkerLost`. (Ray's
  streaming generators would do the same but do not work through Ray Client, ``ray://``);
- clocks: ``perf_counter_ns`` is CLOCK_MONOTONIC, one clock per kernel. Each actor's offset from
  the driver's clock is measured as NTP does, from the round trip with the smallest delay among
  ``CLOCK_PROBES`` calls (offset = actor stamp - midpoint of the call, uncertainty = half the round
  trip); on the driver's own kernel (same ``boot_id``) the offset is 0 by construction and the
  probe only checks the method. The common start instant is sent in each actor's clock, and every
  timestamp an actor sends is moved onto the driver's clock, so the run's window spans one clock;
- the API key never enters Ray: the endpoint travels without it, and the key follows sealed to the
  actor's one-time public key (libsodium sealed box), so Ray's logs, dashboard, task table and
  object store only ever hold ciphertext. Inside the actor the key is a :class:`Secret` again,
  which registers it for redaction as in the main process.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from nacl.public import PrivateKey, PublicKey, SealedBox

from .load import Outcome
from .redact import redact
from .retry import RetryPolicy
from .settings import Secret
from .target import Endpoint
from .workers import ClientPool, PoolSpec, serve

CLOCK_PROBES = 15
# Ray calls take milliseconds to reach an actor, more across machines: a wider margin than processes need.
START_MARGIN_NS = 1_000_000_000
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PLACEHOLDER_KEY = "sealed-elsewhere"
ACTOR_THREADS = 4
ACTOR_START_TIMEOUT_S = 120.0


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return BOOT_ID.read_text().strip()
    return None


class ClientActor:
    """One client worker on a Ray node: :func:`workers.serve` in a thread, behind actor calls. Threaded
    (``ACTOR_THREADS``) so that ``cancel`` and the clock probe are answered while ``next_batch`` waits."""

    def __init__(self, endpoint: Endpoint, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
        self._endpoint, self._pool_size, self._timeout, self._policy = endpoint, pool_size, timeout, policy
        self._private = PrivateKey.generate()
        self._conn: Any = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        """Where this actor runs and its one-time public key, for the driver to seal the API key to."""
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "ip": ray.util.get_node_ip_address(),
            "boot_id": _boot_id(),
            "pid": os.getpid(),
            "public_key": bytes(self._private.public_key),
        }

    def open(self, sealed_key: bytes) -> None:
        """Unseal the API key and start the worker thread with an SDK client of its own."""
        key = Secret(SealedBox(self._private).decrypt(sealed_key).decode())
        endpoint = replace(self._endpoint, api_key=key)
        parent, child = multiprocessing.Pipe()
        thread = threading.Thread(
            target=serve,
            args=(child, endpoint, self._pool_size, self._timeout, self._policy),
            name="cerebras-perf-client",
            daemon=True,
        )
        thread.start()
        self._conn = parent

    def clock(self) -> int:
        return time.perf_counter_ns()

    def call(self, command: str, args: Any) -> None:
        with self._lock:
            self._conn.send((command, args))

    def next_batch(self) -> list[tuple[str, Any]]:
        """The command's next messages: waits for one, then takes every other one already there."""
        batch = [self._conn.recv()]
        while batch[-1][0] == "outcome" and self._conn.poll():
            batch.append(self._conn.recv())
        return batch

    def cancel(self) -> None:
        with self._lock:
            self._conn.send(("cancel", None))


@dataclass(frozen=True)
class Clock:
    """An actor's clock against the driver's: ``offset_ns`` = actor's reading - driver's, at one instant."""

    offset_ns: int
    uncertainty_ns: int
    same_kernel: bool
    estimate_ns: int


def measure_offset(probe: Callable[[], int], *, same_kernel: bool, probes: int = CLOCK_PROBES) -> Clock:
    """NTP's estimate from the fastest of ``probes`` round trips; ``probe()`` returns the remote clock."""
    best: tuple[int, int] | None = None
    for _ in range(probes):
        sent = time.perf_counter_ns()
        remote = int(probe())
        back = time.perf_counter_ns()
        trip = back - sent
        if best is None or trip < best[0]:
            best = (trip, remote - (sent + back) // 2)
    assert best is not None
    trip, estimate = best
    return Clock(0 if same_kernel else estimate, trip // 2, same_kernel, estimate)


def on_driver_clock(outcome: Outcome, offset_ns: int) -> Outcome:
    """``outcome`` with every timestamp moved from its actor's clock to the driver's."""
    if offset_ns == 0:
        return outcome
    raw = outcome.raw
    if raw is not None:
        raw = replace(
            raw,
            handed_ns=raw.handed_ns - offset_ns,
            t0_ns=raw.t0_ns - offset_ns,
            end_ns=raw.end_ns - offset_ns,
            chunks=[(stamp - offset_ns, chunk) for stamp, chunk in raw.chunks],
        )
    scheduled = None if outcome.scheduled_ns is None else outcome.scheduled_ns - offset_ns
    return replace(outcome, raw=raw, scheduled_ns=scheduled)


def connect(address: str) -> bool:
    """Join the cluster at ``address`` as a driver, quietly (the actors' output is theirs to log);
    False when this process already is one."""
    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        namespace="cerebras-perf",
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=False,
    )
    return True


def default_actors() -> int:
    """One actor per live node with a CPU to spare."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    available = ray.available_resources()
    spare = int(available.get("CPU", 0))
    return max(1, min(len(nodes), spare))


class RayLinks:
    """Links to :class:`ClientActor` s, spread over the cluster's nodes."""

    start_margin_ns = START_MARGIN_NS

    def __init__(self, endpoint: Endpoint, *, actors: int, pool_size: int, timeout: float, policy: RetryPolicy) -> None:
        self._inbox: queue.Queue[tuple[int, tuple[str, Any]]] = queue.Queue()
        self._readers: list[threading.Thread] = []
        # A CPU each while the cluster has them (then SPREAD puts one actor a node), else an even share.
        cpus = min(1.0, float(ray.cluster_resources().get("CPU", 0.0)) / actors)
        keyless = replace(endpoint, api_key=Secret(PLACEHOLDER_KEY))
        remote = ray.remote(ClientActor).options(
            num_cpus=cpus, max_concurrency=ACTOR_THREADS, scheduling_strategy="SPREAD"
        )
        self._actors: list[Any] = [remote.remote(keyless, pool_size, timeout, policy) for _ in range(actors)]
        try:
            self.identities: list[dict[str, Any]] = ray.get(
                [actor.identity.remote() for actor in self._actors], timeout=ACTOR_START_TIMEOUT_S
            )
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RuntimeError(
                f"--perf-ray: {actors} client actor(s) of {cpus:g} CPU each did not start within "
                f"{ACTOR_START_TIMEOUT_S:g} s; the cluster has no room (ray status), or use --perf-ray-actors"
            ) from None
        here = _boot_id()
        for actor, identity in zip(self._actors, self.identities, strict=True):
            sealed = SealedBox(PublicKey(identity["public_key"])).encrypt(endpoint.api_key.reveal().encode())
            ray.get(actor.open.remote(sealed))
        self.clocks = [
            measure_offset(
                functools.partial(_read_clock, actor), same_kernel=here is not None and identity["boot_id"] == here
            )
            for actor, identity in zip(self._actors, self.identities, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._actors)

    def name(self, index: int) -> str:
        return f"Ray actor {index} on node {self.identities[index]['ip']}"

    def nodes(self) -> int:
        return len({identity["node"] for identity in self.identities})

    def send(self, index: int, command: str, args: Any) -> None:
        actor = self._actors[index]
        if command == "cancel":
            with contextlib.suppress(Exception):  # a dead actor has nothing left to cancel
                actor.cancel.remote()
            return
        if isinstance(args, dict) and "start_at_ns" in args:
            args = {**args, "start_at_ns": args["start_at_ns"] + self.clocks[index].offset_ns}
        reader = threading.Thread(
            target=self._read, args=(index, actor, command, args), daemon=True, name=f"ray-reader-{index}"
        )
        self._readers.append(reader)
        reader.start()

    def _read(self, index: int, actor: Any, command: str, args: Any) -> None:
        """Run one command and forward its messages to the inbox as they come, on the driver's clock;
        a lost actor says so."""
        offset = self.clocks[index].offset_ns
        try:
            ray.get(actor.call.remote(command, args))
            status = "outcome"
            while status == "outcome":
                for status, payload in ray.get(actor.next_batch.remote()):
                    if status == "outcome":
                        outcome, lag = payload
                        payload = (on_driver_clock(outcome, offset), lag)
                    self._inbox.put((index, (status, payload)))
        except Exception as exc:  # the actor, its worker process or its node died
            self._inbox.put((index, ("lost", redact(f"{type(exc).__name__}: {_first_line(exc)}"))))

    def receive(self, pending: Collection[int], timeout: float | None) -> list[tuple[int, tuple[str, Any]]]:
        try:
            messages = [self._inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                messages.append(self._inbox.get_nowait())
        return messages

    def close(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        for reader in self._readers:
            reader.join(timeout=5)
        self._actors, self._readers = [], []


def _read_clock(actor: Any) -> int:
    return int(ray.get(actor.clock.remote()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RayPool(ClientPool):
    """Client workers as Ray actors: the pool of ``--perf-workers``, with Ray as the transport."""

    def __init__(self, spec: PoolSpec, *, address: str | None, actors: int | None) -> None:
        """``address``: the cluster to join (and leave on :meth:`close`); None when this process
        already is a driver."""
        self._joined = address is not None and connect(address)
        count = actors or default_actors()
        self.links = RayLinks(
            spec.endpoint, actors=count, pool_size=spec.pool_size(count), timeout=spec.timeout, policy=spec.policy
        )
        super().__init__(self.links, max_client_lag=spec.max_client_lag, min_achieved=spec.min_achieved)

    def close(self) -> None:
        super().close()
        if self._joined:
            ray.shutdown()

    def describe(self) -> str:
        """One line for the session's notes: where the actors run and how their clocks were aligned."""
        clocks = self.links.clocks
        estimates = ", ".join(f"{c.estimate_ns / 1e6:+.3f} ms ± {c.uncertainty_ns / 1e6:.3f}" for c in clocks)
        how = (
            "all on the driver's kernel, so offsets are 0 by construction; the round-trip estimate gave "
            if all(c.same_kernel for c in clocks)
            else "timestamps moved onto the driver's clock by the measured offsets "
        )
        return (
            f"--perf-ray: {len(clocks)} client actor(s) on {self.links.nodes()} node(s); clock offsets "
            f"(actor - driver) {how}{estimates}"
        )
