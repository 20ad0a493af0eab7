"""The one retry and rate-limit policy: classify failures, wait outside the timer, stop on a daily quota.

The original study timed the SDK's hidden retries and reported 20 s "TTFT outliers". Here the SDK
runs with ``max_retries=0``; this module retries with tenacity around the measured call, so each
attempt gets a fresh t0 and back-off sleeps never fall inside a latency. Per-minute 429s wait as
the response says; a daily quota cannot be waited out inside a CI job, so it stops the model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import aiohttp
import httpx
from cerebras.cloud.sdk import APIConnectionError, APIStatusError, APITimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from .measure import BadResponse, IncompleteStream, StreamError
from .redact import redact

T = TypeVar("T")

# The longest single wait the endpoint can ask for (retry-after, a rate-limit reset), and the most
# rate-limit waiting one request may do. A gateway that reports milliseconds (a reset of 86,400,000)
# would otherwise put a CI job to sleep for days: a longer wait fails the request instead.
MAX_ENDPOINT_WAIT_S = 120.0
# Consecutive identical failed attempts (same kind and status) after which a scenario stops sending:
# a persistent 429 or hang would otherwise cost minutes per sample.
BREAKER_THRESHOLD = 5


@dataclass(frozen=True)
class Failure:
    """A classified failed attempt. ``kind`` is what the results file and report show."""

    kind: str
    status: int | None
    message: str
    retryable: bool
    wait_hint: float | None = None


class DailyQuotaExceeded(Exception):
    """The model's daily quota is spent: stop measuring it, keep what was measured."""

    def __init__(self, failure: Failure, reset_in: float | None, message: str | None = None) -> None:
        reason = f"daily quota exhausted for this model ({failure.message}); {reset_phrase(reset_in)}"
        super().__init__(message or reason)
        self.failure = failure
        self.reset_in = reset_in

    @classmethod
    def relayed(cls, message: str) -> DailyQuotaExceeded:
        """The same stop, reported by a client process that only sent its message."""
        return cls(Failure("daily_quota", 429, message, retryable=False), None, message)


def reset_phrase(reset_in: float | None, now: dt.datetime | None = None) -> str:
    """When a quota comes back, for a person: ``resets in 3 h 20 min (at 2025-03-01 18:05 UTC)``."""
    if reset_in is None:
        return "the endpoint did not say when it resets"
    now = now or dt.datetime.now(dt.timezone.utc)
    at = now + dt.timedelta(seconds=reset_in)
    minutes, seconds = divmod(round(reset_in), 60)
    hours, minutes = divmod(minutes, 60)
    span = f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return f"resets in {span} (at {at:%Y-%m-%d %H:%M} UTC)"


class WaitTooLong(Exception):
    """The endpoint asked for a wait longer than :data:`MAX_ENDPOINT_WAIT_S`; the request fails instead."""

    def __init__(self, wait: float, cap: float, what: str) -> None:
        super().__init__(
            f"{what} asks for a {wait:,.0f} s wait, more than the {cap:g} s cap (a reset in milliseconds?); not waited"
        )


class Exhausted(Exception):
    """Retries ran out (or the failure was not retryable); carries what the sample records."""

    def __init__(self, failure: Failure, retries: int) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retries = retries


def _header_seconds(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def _is_daily(message: str, headers: Mapping[str, str]) -> bool:
    if "per day" in message.lower():
        return True
    for name in ("x-ratelimit-remaining-tokens-day", "x-ratelimit-remaining-requests-day"):
        if headers.get(name) is not None and _header_seconds(headers, name) == 0:
            return True
    return False


def _day_resets(message: str) -> tuple[str, str]:
    """The reset headers to read for a daily quota, the exhausted bucket's first."""
    tokens, requests = "x-ratelimit-reset-tokens-day", "x-ratelimit-reset-requests-day"
    return (requests, tokens) if "requests per day" in message.lower() else (tokens, requests)


def _status_message(exc: APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc)


def classify(exc: BaseException) -> Failure:
    """What went wrong, whether it is worth another attempt, and how long the server asked us to wait."""
    if isinstance(exc, APIStatusError):
        headers = exc.response.headers
        message = redact(_status_message(exc))
        status = exc.status_code
        if status == 429:
            if _is_daily(message, headers):
                reset = _header_seconds(headers, *_day_resets(message))
                return Failure("daily_quota", 429, message, retryable=False, wait_hint=reset)
            hint = _header_seconds(
                headers, "retry-after", "x-ratelimit-reset-requests-minute", "x-ratelimit-reset-tokens-minute"
            )
            return Failure("rate_limit", 429, message, retryable=True, wait_hint=hint)
        if status >= 500 or status in (408, 409):
            return Failure("server_error", status, message, retryable=True)
        return Failure("client_error", status, message, retryable=False)
    if isinstance(exc, WaitTooLong):
        return Failure("rate_limit", None, str(exc), retryable=False)
    if isinstance(exc, BadResponse):  # asking again gets the same answer
        return Failure(exc.kind, exc.status, redact(str(exc)).splitlines()[0], retryable=False)
    if isinstance(exc, StreamError):
        if exc.status == 429:
            return Failure("rate_limit", 429, redact(str(exc)), retryable=True)
        return Failure("stream_error", exc.status, redact(str(exc)), retryable=True)
    hung_up = _hung_up(exc)
    if isinstance(exc, (APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)) and not hung_up:
        return Failure("timeout", None, "request timed out", retryable=True)
    if hung_up or isinstance(exc, (APIConnectionError, httpx.TransportError, IncompleteStream, ConnectionError)):
        detail = str(hung_up or exc) or type(exc).__name__
        return Failure("connection", None, redact(detail).splitlines()[0], retryable=True)
    return Failure("client_error", None, redact(f"{type(exc).__name__}: {exc}").splitlines()[0], retryable=False)


def _hung_up(exc: BaseException) -> BaseException | None:
    """The aiohttp connection error behind ``exc``, if any. httpx-aiohttp reports a server that
    closed the connection (``ServerDisconnectedError``) as ``httpx.ConnectTimeout``, which the SDK
    turns into ``APITimeoutError``: a dropped connection must not be recorded as a timeout."""
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, aiohttp.ClientConnectionError) and not isinstance(link, aiohttp.ServerTimeoutError):
            return link
        link = link.__cause__ or link.__context__
    return None


@dataclass(frozen=True)
class RetryPolicy:
    retries: int  # --perf-retries
    rate_limit_max_wait: float = MAX_ENDPOINT_WAIT_S
    backoff_initial: float = 0.25
    backoff_max: float = 20.0


class _Budget:
    """Counts transient failures and rate-limit waiting separately: a 429 is not a fault."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.transient = 0
        self.rate_limited_for = 0.0

    def stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None:
            return True
        failure = classify(exc)
        if failure.kind == "rate_limit":
            too_long = failure.wait_hint is not None and failure.wait_hint > self.policy.rate_limit_max_wait
            return too_long or self.rate_limited_for >= self.policy.rate_limit_max_wait
        self.transient += 1
        return self.transient > self.policy.retries

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        failure = classify(exc) if exc is not None else None
        if failure is not None and failure.kind == "rate_limit":
            backoff = wait_random_exponential(multiplier=self.policy.backoff_initial, max=self.policy.backoff_max)
            delay = failure.wait_hint if failure.wait_hint is not None else backoff(state)
            delay = min(delay, self.policy.rate_limit_max_wait - self.rate_limited_for)
            self.rate_limited_for += max(delay, 0.0)
            return max(delay, 0.0)
        return float(
            wait_random_exponential(multiplier=self.policy.backoff_initial, max=self.policy.backoff_max)(state)
        )


class Breaker:
    """Counts consecutive identical failed attempts (same kind and status) across a scenario's
    requests; at :data:`BREAKER_THRESHOLD` it opens and ``reason`` says why the scenario stopped.
    Any success closes the run of failures."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD) -> None:
        self.threshold = threshold
        self.reason: str | None = None
        self._last: tuple[str, int | None] | None = None
        self._count = 0

    def failed(self, failure: Failure) -> None:
        key = (failure.kind, failure.status)
        self._count = self._count + 1 if key == self._last else 1
        self._last = key
        if self._count >= self.threshold and self.reason is None:
            status = f"{failure.status} " if failure.status is not None else ""
            self.reason = f"stopped after {self._count} consecutive {status}{failure.kind} errors: {failure.message}"

    def succeeded(self) -> None:
        self._count, self._last = 0, None


class BreakerOpen(Exception):
    """A scenario stopped sending after a run of identical failures; the message says which."""


async def call_with_retries(
    operation: Callable[[], Awaitable[T]], policy: RetryPolicy, breaker: Breaker | None = None
) -> tuple[T, int]:
    """Run ``operation`` until it succeeds; returns its value and the number of failed attempts.

    Raises :class:`DailyQuotaExceeded` at once on a daily quota and :class:`Exhausted` when the
    failure is not retryable, the budget is spent or ``breaker`` opened.
    """
    budget = _Budget(policy)
    attempts = 0
    breaker = breaker or Breaker()

    async def counted() -> T:
        nonlocal attempts
        attempts += 1
        try:
            value = await operation()
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            breaker.failed(classify(exc))
            raise
        breaker.succeeded()
        return value

    def stop(state: RetryCallState) -> bool:
        return breaker.reason is not None or budget.stop(state)

    retrying = AsyncRetrying(
        stop=stop,
        wait=budget.wait,
        retry=retry_if_exception(lambda exc: classify(exc).retryable),
        reraise=True,
    )
    try:
        value: T = await retrying(counted)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        failure = classify(exc)
        if failure.kind == "daily_quota":
            raise DailyQuotaExceeded(failure, failure.wait_hint) from None
        if failure.wait_hint is not None and failure.wait_hint > policy.rate_limit_max_wait:
            too_long = WaitTooLong(failure.wait_hint, policy.rate_limit_max_wait, "the endpoint's 429")
            failure = replace(failure, message=f"{too_long}: {failure.message}")
        raise Exhausted(failure, attempts - 1) from None
    return value, attempts - 1


MINUTE = 60.0


@dataclass
class _MinuteBudget:
    """The server's per-minute bucket as the last response described it, minus what we sent since.

    Cerebras buckets refill continuously, so with the ``x-ratelimit-limit-*`` header the room comes
    back at ``limit / 60`` per second; without it, only the reset time (bucket full) is known.
    """

    remaining: float
    limit: float | None
    observed_at: float
    full_at: float

    def room(self, now: float) -> float:
        if now >= self.full_at:
            return math.inf
        if self.limit is None:
            return self.remaining
        return min(self.limit, self.remaining + (now - self.observed_at) * self.limit / MINUTE)

    def delay_for(self, amount: float, now: float) -> float:
        room = self.room(now)
        if room >= amount:
            return 0.0
        until_full = self.full_at - now
        if self.limit is None:
            return until_full
        return min(until_full, (amount - room) * MINUTE / self.limit)

    def book(self, amount: float, now: float) -> None:
        room = self.room(now)
        if math.isfinite(room):
            self.remaining, self.observed_at = room - amount, now


def _budget(headers: Mapping[str, str], what: str, now: float) -> _MinuteBudget | None:
    remaining = _header_seconds(headers, f"x-ratelimit-remaining-{what}-minute")
    if remaining is None:
        return None
    limit = _header_seconds(headers, f"x-ratelimit-limit-{what}-minute")
    reset = _header_seconds(headers, f"x-ratelimit-reset-{what}-minute") or 0.0
    return _MinuteBudget(remaining, limit or None, now, now + reset)


def _tighter(booked: _MinuteBudget | None, observed: _MinuteBudget | None, now: float) -> _MinuteBudget | None:
    if observed is None or booked is None:
        return observed or booked
    return booked if booked.room(now) < observed.room(now) else observed


class Pacer:
    """Waits before sending when the last ``x-ratelimit-*`` headers say a request would be refused.

    Collecting a 429 costs a round trip and, on shared quotas, other users' requests; the headers
    already say when there is room again. The wait happens before the request's clock starts, so it
    is never part of a latency.
    """

    def __init__(self, max_wait: float = MAX_ENDPOINT_WAIT_S) -> None:
        self.max_wait = max_wait
        self._requests: _MinuteBudget | None = None
        self._tokens: _MinuteBudget | None = None
        self._blind: list[int] = []  # token reserves of requests sent before any header was seen
        self._lock = asyncio.Lock()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the server's word, except that a response's headers predate the requests booked
        while it streamed: never give back room that was already spent."""
        now = time.monotonic()
        self._requests = _tighter(self._requests, _budget(headers, "requests", now), now)
        self._tokens = _tighter(self._tokens, _budget(headers, "tokens", now), now)
        if self._blind and (self._requests or self._tokens):
            # The first headers count the first request only; the others sent blind are still to come.
            self._book(len(self._blind) - 1, sum(self._blind[1:]), now)
            self._blind = []

    def delay_for(self, reserve_tokens: int) -> float:
        """Seconds to wait before a request reserving ``reserve_tokens`` fits the minute budget."""
        now = time.monotonic()
        delays = [
            budget.delay_for(amount, now)
            for budget, amount in ((self._requests, 1), (self._tokens, reserve_tokens))
            if budget is not None
        ]
        return max(delays, default=0.0)

    async def before_send(self, reserve_tokens: int) -> None:
        """Sleep if needed and book the request (before its clock starts, so the wait is never timed).

        Raises :class:`WaitTooLong` rather than sleep longer than ``max_wait``."""
        async with self._lock:
            delay = self.delay_for(reserve_tokens)
            if delay > self.max_wait:
                raise WaitTooLong(delay, self.max_wait, "the endpoint's x-ratelimit-* headers")
            if delay > 0:
                await asyncio.sleep(delay)
            if self._requests is None and self._tokens is None:
                self._blind.append(reserve_tokens)
            self._book(1, reserve_tokens, time.monotonic())

    def _book(self, requests: int, tokens: int, now: float) -> None:
        for budget, amount in ((self._requests, requests), (self._tokens, tokens)):
            if budget is not None:
                budget.book(amount, now)
