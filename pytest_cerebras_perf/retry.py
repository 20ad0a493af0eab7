"""The one retry and rate-limit policy: classify failures, wait outside the timer, stop on a daily quota.

The original study timed the SDK's hidden retries and reported 20 s "TTFT outliers". Here the SDK
runs with ``max_retries=0``; this module retries with tenacity around the measured call, so each
attempt gets a fresh t0 and back-off sleeps never fall inside a latency. Per-minute 429s wait as
the response says; a daily quota cannot be waited out inside a CI job, so it stops the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx
from cerebras.cloud.sdk import APIConnectionError, APIStatusError, APITimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from .measure import IncompleteStream, StreamError
from .redact import redact

T = TypeVar("T")


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

    def __init__(self, failure: Failure, reset_in: float | None) -> None:
        when = f"; resets in {reset_in / 3600:.1f} h" if reset_in else ""
        super().__init__(f"daily quota exhausted for this model ({failure.message}){when}")
        self.failure = failure
        self.reset_in = reset_in


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
                reset = _header_seconds(headers, "x-ratelimit-reset-tokens-day", "x-ratelimit-reset-requests-day")
                return Failure("daily_quota", 429, message, retryable=False, wait_hint=reset)
            hint = _header_seconds(
                headers, "retry-after", "x-ratelimit-reset-requests-minute", "x-ratelimit-reset-tokens-minute"
            )
            return Failure("rate_limit", 429, message, retryable=True, wait_hint=hint)
        if status >= 500 or status in (408, 409):
            return Failure("server_error", status, message, retryable=True)
        return Failure("client_error", status, message, retryable=False)
    if isinstance(exc, StreamError):
        if exc.status == 429:
            return Failure("rate_limit", 429, redact(str(exc)), retryable=True)
        return Failure("stream_error", exc.status, redact(str(exc)), retryable=True)
    if isinstance(exc, (APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return Failure("timeout", None, "request timed out", retryable=True)
    if isinstance(exc, (APIConnectionError, httpx.TransportError, IncompleteStream, ConnectionError)):
        detail = str(exc) or type(exc).__name__
        return Failure("connection", None, redact(detail).splitlines()[0], retryable=True)
    return Failure("client_error", None, redact(f"{type(exc).__name__}: {exc}").splitlines()[0], retryable=False)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    rate_limit_max_wait: float = 120.0
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
            return self.rate_limited_for >= self.policy.rate_limit_max_wait
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


async def call_with_retries(operation: Callable[[], Awaitable[T]], policy: RetryPolicy) -> tuple[T, int]:
    """Run ``operation`` until it succeeds; returns its value and the number of failed attempts.

    Raises :class:`DailyQuotaExceeded` at once on a daily quota and :class:`Exhausted` when the
    failure is not retryable or the budget is spent.
    """
    budget = _Budget(policy)
    attempts = 0

    async def counted() -> T:
        nonlocal attempts
        attempts += 1
        return await operation()

    retrying = AsyncRetrying(
        stop=budget.stop,
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
        raise Exhausted(failure, attempts - 1) from None
    return value, attempts - 1


class Pacer:
    """Waits before sending when the last ``x-ratelimit-remaining-*`` headers say a request would be refused.

    Collecting a 429 costs a round trip and, on shared quotas, other users' requests; the headers
    already say when there is room again.
    """

    def __init__(self) -> None:
        self._remaining_requests: float | None = None
        self._remaining_tokens: float | None = None
        self._requests_reset_at = 0.0
        self._tokens_reset_at = 0.0
        self._lock = asyncio.Lock()

    def observe(self, headers: Mapping[str, str]) -> None:
        now = time.monotonic()
        requests = _header_seconds(headers, "x-ratelimit-remaining-requests-minute")
        tokens = _header_seconds(headers, "x-ratelimit-remaining-tokens-minute")
        if requests is not None:
            self._remaining_requests = requests
            self._requests_reset_at = now + (_header_seconds(headers, "x-ratelimit-reset-requests-minute") or 0.0)
        if tokens is not None:
            self._remaining_tokens = tokens
            self._tokens_reset_at = now + (_header_seconds(headers, "x-ratelimit-reset-tokens-minute") or 0.0)

    def delay_for(self, reserve_tokens: int) -> float:
        """Seconds to wait before a request reserving ``reserve_tokens`` fits the minute budget."""
        now = time.monotonic()
        delay = 0.0
        if self._remaining_requests is not None and self._remaining_requests < 1 and now < self._requests_reset_at:
            delay = max(delay, self._requests_reset_at - now)
        if (
            self._remaining_tokens is not None
            and self._remaining_tokens < reserve_tokens
            and now < self._tokens_reset_at
        ):
            delay = max(delay, self._tokens_reset_at - now)
        return delay

    async def before_send(self, reserve_tokens: int) -> float:
        """Sleep if needed and book the request; returns how long it waited (recorded, never timed)."""
        async with self._lock:
            delay = self.delay_for(reserve_tokens)
            if delay > 0:
                await asyncio.sleep(delay)
                self._remaining_requests = None
                self._remaining_tokens = None
            if self._remaining_requests is not None:
                self._remaining_requests -= 1
            if self._remaining_tokens is not None:
                self._remaining_tokens -= reserve_tokens
            return delay
