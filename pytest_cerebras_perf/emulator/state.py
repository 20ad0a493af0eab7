"""Everything the running emulator knows, changed only through these methods.

The admin endpoint can swap the profile while requests are in flight: each request takes the profile
in force when it arrives, while the shared pieces (rate buckets, fault numbering, decode capacity)
are rebuilt only when the fields they depend on change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from aiohttp import web

from .faults import FaultInjector, FaultSpec
from .latency import DecodeCapacity, SessionDrift
from .profile import Profile
from .ratelimit import RateLimits
from .truth import TruthLog

_LIMIT_FIELDS = frozenset({"requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day"})
_DRIFT_FIELDS = frozenset({"drift_tau", "drift_seed"})


@dataclass
class Counters:
    """``connections``: distinct TCP connections that carried an API request (keep-alive reuse shows as
    fewer connections than requests). ``behind_schedule``: responses the emulator could not pace."""

    requests: int = 0
    generation_requests: int = 0
    connections: int = 0
    behind_schedule: int = 0
    max_behind_schedule_s: float = 0.0


class EmulatorState:
    def __init__(self, profile: Profile, api_key: str | None) -> None:
        self.profile = profile
        self.api_key = api_key
        self.capacity = DecodeCapacity()
        self.truth = TruthLog()
        self.counters = Counters()
        self.faults = FaultInjector(profile.faults, profile.seed)
        self.limits = self._new_limits()
        self.drift = SessionDrift.draw(profile.drift_tau, profile.drift_seed)
        self._seen_connections: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    def _new_limits(self) -> RateLimits:
        profile = self.profile
        return RateLimits(
            profile.requests_per_minute,
            profile.requests_per_day,
            profile.tokens_per_minute,
            profile.tokens_per_day,
            time.monotonic(),
        )

    def note_api_request(self, transport: asyncio.BaseTransport | None) -> None:
        self.counters.requests += 1
        if transport is not None and transport not in self._seen_connections:
            self._seen_connections.add(transport)
            self.counters.connections += 1

    def note_behind_schedule(self, lateness_s: float) -> None:
        self.counters.behind_schedule += 1
        self.counters.max_behind_schedule_s = max(self.counters.max_behind_schedule_s, lateness_s)

    def update_profile(self, changes: Mapping[str, object], source: str) -> Profile:
        """Apply a partial profile (raises ConfigError); buckets and faults restart if their fields
        change, and a new drift factor is drawn if ``drift_tau`` or ``drift_seed`` is given."""
        self.profile = self.profile.updated(changes, source)
        if _LIMIT_FIELDS & changes.keys():
            self.limits = self._new_limits()
        if _DRIFT_FIELDS & changes.keys():
            self.drift = SessionDrift.draw(self.profile.drift_tau, self.profile.drift_seed)
        if {"faults", "seed"} & changes.keys():
            self.faults = FaultInjector(self.profile.faults, self.profile.seed)
        return self.profile

    def set_drift_factor(self, factor: float) -> SessionDrift:
        """Impose a drift factor (a "slower day") on every request from now on."""
        self.drift = dataclasses.replace(self.drift, factor=factor, source="admin")
        return self.drift

    def set_faults(self, faults: Sequence[FaultSpec]) -> None:
        """Replace the fault rules; numbering restarts so ``at: [1]`` means the next request."""
        self.profile = dataclasses.replace(self.profile, faults=tuple(faults))
        self.faults.replace(faults)

    def reset(self) -> None:
        """Back to a fresh start: no truth, zero counters, fault numbering from 1, full buckets."""
        self.truth.clear()
        self.counters = Counters()
        self._seen_connections = weakref.WeakSet()
        self.faults.reset()
        self.limits = self._new_limits()

    def stats(self) -> dict[str, object]:
        return {**asdict(self.counters), "active_streams": self.capacity.active, "drift": self.drift.to_dict()}


STATE: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
