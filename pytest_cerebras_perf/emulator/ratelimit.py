"""Token-bucket rate limits with the Cerebras semantics: continuous refill, reservation up front.

A request reserves its prompt tokens plus its maximum completion tokens and is rejected before any
processing when a bucket cannot cover that; the headers of every response report the buckets.
"""

from __future__ import annotations

import math
from typing import Literal

LimitKind = Literal["rpm", "rpd", "tpm", "tpd"]
MINUTE = 60.0
DAY = 86_400.0
_HEADER_SUFFIXES: tuple[tuple[LimitKind, str], ...] = (
    ("rpd", "requests-day"),
    ("tpm", "tokens-minute"),
    ("rpm", "requests-minute"),
    ("tpd", "tokens-day"),
)


def _amount(kind: LimitKind, tokens: int) -> int:
    """Request buckets count the request, token buckets its reserved tokens."""
    return 1 if kind in ("rpm", "rpd") else tokens


class TokenBucket:
    """A bucket of ``capacity`` units refilled continuously over ``period`` seconds."""

    __slots__ = ("_level", "_per_second", "_updated", "capacity")

    def __init__(self, capacity: int, period: float, now: float) -> None:
        self.capacity = capacity
        self._per_second = capacity / period
        self._level = float(capacity)
        self._updated = now

    def _refill(self, now: float) -> None:
        self._level = min(self.capacity, self._level + (now - self._updated) * self._per_second)
        self._updated = now

    def can_take(self, amount: int, now: float) -> bool:
        self._refill(now)
        return self._level >= amount

    def take(self, amount: int, now: float) -> None:
        self._refill(now)
        self._level -= amount

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, math.floor(self._level))

    def seconds_until(self, amount: int, now: float) -> float:
        """Seconds until ``amount`` units are available (0 if they are now)."""
        self._refill(now)
        return max(0.0, (min(amount, self.capacity) - self._level) / self._per_second)

    def reset_seconds(self, now: float) -> float:
        """Seconds until the bucket is full again: the ``x-ratelimit-reset-*`` value."""
        return self.seconds_until(self.capacity, now)


class RateLimits:
    """The four buckets the API documents: requests per minute/day, tokens per minute/day."""

    def __init__(
        self, requests_per_minute: int, requests_per_day: int, tokens_per_minute: int, tokens_per_day: int, now: float
    ) -> None:
        self._buckets: dict[LimitKind, TokenBucket] = {
            "rpm": TokenBucket(requests_per_minute, MINUTE, now),
            "tpm": TokenBucket(tokens_per_minute, MINUTE, now),
            "tpd": TokenBucket(tokens_per_day, DAY, now),
            "rpd": TokenBucket(requests_per_day, DAY, now),
        }

    def admit(self, tokens: int, now: float) -> tuple[LimitKind | None, float]:
        """Reserve one request and ``tokens``; on refusal, the exhausted bucket and seconds to wait.

        Nothing is taken from any bucket unless every bucket can cover the request.
        """
        for kind, bucket in self._buckets.items():
            amount = _amount(kind, tokens)
            if not bucket.can_take(amount, now):
                return kind, bucket.seconds_until(amount, now)
        for kind, bucket in self._buckets.items():
            bucket.take(_amount(kind, tokens), now)
        return None, 0.0

    def headers(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, suffix in _HEADER_SUFFIXES:
            bucket = self._buckets[kind]
            headers[f"x-ratelimit-limit-{suffix}"] = str(bucket.capacity)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(bucket.remaining(now))
            headers[f"x-ratelimit-reset-{suffix}"] = f"{bucket.reset_seconds(now):.6f}"
        return headers
