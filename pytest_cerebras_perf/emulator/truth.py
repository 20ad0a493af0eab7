"""The ground-truth log: what the emulator really did for each generation request.

Timestamps are ``time.monotonic_ns()`` (CLOCK_MONOTONIC on Linux, the clock behind the client's
``time.perf_counter_ns()``), so a benchmark can subtract its own timestamps from these directly and
see how much of a measured latency the harness added.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

MAX_RECORDS = 100_000


@dataclass(slots=True)
class TruthRecord:
    """One generation request. For non-streaming responses the token times are when the tokens were
    produced (the body goes out at ``first_byte_ns``); for streams they are when they were written.

    ``queued_ns``: when the request entered the queue, after ``server_overhead``.
    ``*_due_ns``: when the latency model scheduled the first and last content chunks; the gap to the
    actual times is the emulator's own lateness.
    ``first_reasoning_token_ns`` / ``first_content_token_ns``: when the first reasoning chunk and the
    first content chunk went out (a client's TTFT and TTFO); ``reasoning_effort`` is the effort in
    force (the request's, else the profile's default), ``service_tier`` the tier the request asked for.
    ``outcome``: "ok", "fault", "rate_limited", "disconnected" (the client went away).
    ``behind_schedule_s``: the largest lateness of any scheduled step (queue end, token writes).
    ``drift_factor``: the session drift factor in force when the request arrived (every delay was
    multiplied by it), so a test can tell the endpoint's "day" from a regression.
    """

    request_number: int
    request_id: str
    endpoint: str
    model: str
    stream: bool
    arrival_ns: int
    queued_ns: int | None = None
    status: int = 200
    outcome: str = "ok"
    fault: str | None = None
    first_byte_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    first_token_due_ns: int | None = None
    last_token_due_ns: int | None = None
    end_ns: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    reasoning_effort: str | None = None
    service_tier: str | None = None
    first_reasoning_token_ns: int | None = None
    first_content_token_ns: int | None = None
    chunks: int = 0
    time_info: dict[str, float] | None = None
    behind_schedule_s: float = 0.0
    behind_schedule: bool = False
    drift_factor: float = 1.0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class TruthLog:
    """The most recent ``MAX_RECORDS`` records, oldest first; a record is added when its request
    arrives and filled in as it proceeds, so a hung request is visible too."""

    def __init__(self) -> None:
        self._records: deque[TruthRecord] = deque(maxlen=MAX_RECORDS)

    def add(self, record: TruthRecord) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def to_list(self) -> list[dict[str, object]]:
        return [record.to_dict() for record in self._records]
