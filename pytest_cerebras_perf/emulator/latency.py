"""The latency model: random draws per request, shared decode capacity, and pacing to deadlines.

Decoding follows continuous batching: every stream in its decode phase gets
``min(decode_tps, capacity_tps / active_streams)``, so per-request speed falls and aggregate speed
rises with concurrency until the capacity is reached. Each step is scheduled against an absolute
deadline on the monotonic clock, so an event-loop hiccup delays one write instead of shifting every
later one; the pacer records how late each step was so the emulator can say when it, not the
"model", was the bottleneck.

Session drift: a real endpoint is faster or slower for a whole run (load, routing, time of day),
which no within-run noise shows. The emulator draws one log-normal factor exp(N(0, drift_tau²)) per
start (from ``drift_seed`` if set, else fresh entropy) and multiplies every delay by it, so each
emulator start is a new "day" and the gate faces drift in every test and benchmark.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Literal

from .profile import Profile
from .slowdowns import NO_SLOWDOWN, Slowdown

NS_PER_S = 1_000_000_000


DriftSource = Literal["seeded", "random", "admin"]


@dataclass(frozen=True)
class SessionDrift:
    """The factor on every delay for this emulator start, and how it was chosen (module docstring)."""

    tau: float
    seed: int | None
    factor: float
    source: DriftSource

    @classmethod
    def draw(cls, tau: float, seed: int | None) -> SessionDrift:
        rng = random.Random(f"drift:{seed}") if seed is not None else random.SystemRandom()
        factor = math.exp(rng.gauss(0.0, tau)) if tau else 1.0
        return cls(tau, seed, factor, "random" if seed is None else "seeded")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class DecodeCapacity:
    """Counts the streams currently decoding; they share the profile's aggregate capacity."""

    def __init__(self) -> None:
        self.active = 0

    def per_stream_tps(self, decode_tps: float, capacity_tps: float | None) -> float:
        if capacity_tps is None:
            return decode_tps
        return min(decode_tps, capacity_tps / max(1, self.active))


class RequestLatency:
    """The random draws for one request, from an RNG fixed by (profile seed, request number).

    ``drift`` (the session's factor) scales every delay; ``slowdown`` (the request's rule, if any)
    scales its prompt phase and decode time on top.
    """

    def __init__(
        self,
        profile: Profile,
        request_number: int,
        capacity: DecodeCapacity,
        drift: float = 1.0,
        slowdown: Slowdown = NO_SLOWDOWN,
    ) -> None:
        self._profile = profile
        self._capacity = capacity
        self._drift = drift
        self._prompt_scale = drift * slowdown.prompt
        self._decode_scale = drift * slowdown.decode
        self._rng = random.Random(f"{profile.seed}:{request_number}")
        sigma = profile.jitter_sigma
        self._jitter_mu = -sigma * sigma / 2  # a log-normal with mean exactly 1: jitter never biases rates

    def _jitter(self) -> float:
        sigma = self._profile.jitter_sigma
        return self._rng.lognormvariate(self._jitter_mu, sigma) if sigma else 1.0

    def overhead_ns(self) -> int:
        return round(self._profile.server_overhead * self._drift * NS_PER_S)

    def queue_delay_ns(self) -> int:
        profile = self._profile
        if profile.queue_spike_probability and self._rng.random() < profile.queue_spike_probability:
            seconds = self._rng.uniform(profile.queue_spike_min, profile.queue_spike_max)
        else:
            seconds = self._rng.expovariate(1 / profile.queue_time) if profile.queue_time else 0.0
        return round(seconds * self._drift * NS_PER_S)

    def prompt_delay_ns(self, prompt_tokens: int) -> int:
        profile = self._profile
        seconds = profile.ttft_base + prompt_tokens / profile.prompt_tps
        return round(seconds * self._prompt_scale * self._jitter() * NS_PER_S)

    def decode_interval_ns(self, tokens: int) -> int:
        """Time to produce ``tokens`` more tokens at the per-stream rate in force right now."""
        if tokens == 0:
            return 0
        rate = self._capacity.per_stream_tps(self._profile.decode_tps, self._profile.capacity_tps)
        return round(tokens / rate * self._decode_scale * self._jitter() * NS_PER_S)


class Pacer:
    """Waits for absolute monotonic deadlines and keeps the worst lateness.

    A step is "behind schedule" when it is later than ``max(behind_schedule_min, behind_schedule_fraction
    × its scheduled offset from arrival)``: every duration measured from arrival is then within that
    fraction of the model's, whatever the event loop's timer granularity (~1 ms with epoll).
    """

    def __init__(self, arrival_ns: int, profile: Profile) -> None:
        self._arrival_ns = arrival_ns
        self._fraction = profile.behind_schedule_fraction
        self._minimum_ns = profile.behind_schedule_min * NS_PER_S
        self.max_late_ns = 0
        self.behind = False

    async def until(self, deadline_ns: int) -> int:
        """Sleep until ``deadline_ns`` (if still ahead) and return the monotonic time on waking."""
        now = time.monotonic_ns()
        if deadline_ns > now:
            await asyncio.sleep((deadline_ns - now) / NS_PER_S)
            now = time.monotonic_ns()
        late = now - deadline_ns
        if late > self.max_late_ns:
            self.max_late_ns = late
            if late > max(self._minimum_ns, self._fraction * (deadline_ns - self._arrival_ns)):
                self.behind = True
        return now


def chunk_sizes(total_tokens: int, tokens_per_chunk: int) -> list[int]:
    """Tokens per content chunk: full chunks and a shorter last one."""
    count = math.ceil(total_tokens / tokens_per_chunk)
    return [min(tokens_per_chunk, total_tokens - index * tokens_per_chunk) for index in range(count)]
