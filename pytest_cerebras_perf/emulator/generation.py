"""Serving one generation request (chat or text completion), streaming or not.

Order of events, each step against an absolute deadline: arrival -> rate-limit check -> (faults) ->
``server_overhead`` -> queue -> response headers + role frame -> prompt processing -> first chunk ->
paced decode (reasoning chunks first, then content) -> final chunk with ``usage`` and ``time_info``
-> ``[DONE]``. ``time_info`` is measured from the same clock readings that go into the ground-truth
record.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..request_id import REQUEST_ID_HEADER
from . import wire
from .faults import FaultSpec
from .latency import NS_PER_S, Pacer, RequestLatency, chunk_sizes
from .profile import Profile
from .reasoning import draw_reasoning_tokens, reasoning_effort
from .request_body import BadRequest, GenerationRequest, parse_generation
from .slowdowns import slowdown_for
from .state import STATE, EmulatorState
from .text import generate_pieces
from .truth import TruthRecord

log = logging.getLogger("pytest_cerebras_perf.emulator")
BEHIND_SCHEDULE_HEADER = "x-emulator-behind-schedule"

_ERROR_FAULTS: dict[str, tuple[int, dict[str, str]]] = {
    "http_500": (500, wire.INTERNAL_ERROR),
    "http_503": (503, wire.SERVICE_UNAVAILABLE),
    "rate_limit_rpm": (429, wire.RATE_LIMIT_BODIES["rpm"]),
    "rate_limit_tpm": (429, wire.RATE_LIMIT_BODIES["tpm"]),
    "rate_limit_tpd": (429, wire.RATE_LIMIT_BODIES["tpd"]),
}

Writer = Callable[[bytes], Awaitable[None]]


def json_error(status: int, body: dict[str, str], retry_after: float | None = None) -> web.Response:
    """A Cerebras-style error response; ``retry-after`` is whole seconds, rounded up, as HTTP wants."""
    headers = {} if retry_after is None else {"retry-after": str(math.ceil(retry_after))}
    return web.json_response(body, status=status, headers=headers)


def _seconds(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / NS_PER_S


class _Generation:
    """The life of one admitted request; fills its truth record as it goes."""

    def __init__(
        self,
        request: web.Request,
        state: EmulatorState,
        profile: Profile,
        body: GenerationRequest,
        record: TruthRecord,
        endpoint: wire.Endpoint,
        reasoning_tokens: int,
    ) -> None:
        self._request = request
        self._state = state
        self._profile = profile
        self._body = body
        self._record = record
        self._latency = RequestLatency(
            profile,
            record.request_number,
            state.capacity,
            drift=record.drift_factor,
            slowdown=slowdown_for(body.prompt_text, profile.slowdowns),
        )
        self._pacer = Pacer(record.arrival_ns, profile)
        self._created = time.time()
        self._identity = wire.ResponseIdentity(
            response_id=f"{'chatcmpl' if endpoint == 'chat' else 'cmpl'}-{uuid.uuid4()}",
            created=int(self._created),
            model=body.model,
            system_fingerprint=f"fp_emulator_{profile.seed:x}",
            endpoint=endpoint,
            service_tier=body.service_tier or "default",
        )
        plan = body.output_plan(profile.default_output_tokens, reasoning_tokens if endpoint == "chat" else 0)
        self._reasoning_tokens, self._completion_tokens, self._finish_reason = plan
        reasoning_sizes = chunk_sizes(self._reasoning_tokens, profile.tokens_per_chunk)
        self._reasoning_chunks = len(reasoning_sizes)
        content_sizes = chunk_sizes(self._completion_tokens - self._reasoning_tokens, profile.tokens_per_chunk)
        self._sizes = reasoning_sizes + content_sizes
        self._start_ns = 0
        self._enqueue_ns = 0
        self._chunk_texts: list[bytes] = []
        self._templates: dict[bool, tuple[bytes, bytes, bytes]] = {}  # reasoning? -> head, tail, separator

    async def respond(self, fault: FaultSpec | None) -> web.StreamResponse:
        record = self._record
        if fault is not None and fault.kind in _ERROR_FAULTS:
            status, body = _ERROR_FAULTS[fault.kind]
            return self._finish_error(status, body, fault.retry_after, "fault")
        reserve = self._body.prompt_tokens + (self._body.max_tokens or self._completion_tokens)
        limit, wait_s = self._state.limits.admit(reserve, time.monotonic())
        if limit is not None:
            retry_after = wait_s if self._profile.retry_after_header else None
            return self._finish_error(429, wire.RATE_LIMIT_BODIES[limit], retry_after, "rate_limited")
        schedule_from = record.arrival_ns
        if fault is not None:
            record.outcome = "fault"
            if fault.kind == "slow_first_byte":
                await asyncio.sleep(fault.delay)
                schedule_from = time.monotonic_ns()  # the delay is the fault, not lateness
            elif fault.kind == "hang":
                await asyncio.get_running_loop().create_future()  # until the client gives up
            elif fault.kind == "drop" and (fault.after_chunks == 0 or not self._body.stream):
                return self._drop(web.StreamResponse())
        self._enqueue_ns = record.queued_ns = await self._pacer.until(schedule_from + self._latency.overhead_ns())
        self._start_ns = await self._pacer.until(self._enqueue_ns + self._latency.queue_delay_ns())
        if self._body.stream:
            return await self._stream(fault)
        return await self._whole()

    def _finish_error(self, status: int, body: dict[str, str], retry_after: float | None, outcome: str) -> web.Response:
        self._record.status = status
        self._record.outcome = outcome
        response = json_error(status, body, retry_after)
        self._record.first_byte_ns = time.monotonic_ns()
        return response

    def _drop(self, response: web.StreamResponse) -> web.StreamResponse:
        """Abort the TCP connection: the client sees a reset, as when a proxy or server dies."""
        transport = self._request.transport
        if transport is not None:
            transport.abort()
        return response

    def _pieces(self) -> list[str]:
        return generate_pieces(self._body.text_seed(self._profile.seed), self._completion_tokens)

    async def _decode(self, limit: int, write: Writer | None) -> None:
        """Pace the first ``limit`` chunks; chunks already due when the loop wakes go out in one write.

        The first chunk is due when its last token is ready: prompt end plus ``sizes[0] - 1`` tokens.
        Each later chunk is due one chunk's decode time after the previous one's due time (not after
        its actual write), so lateness never accumulates.
        """
        record = self._record
        latency = self._latency
        sizes = self._sizes
        capacity = self._state.capacity
        capacity.active += 1
        try:
            due = self._start_ns + latency.prompt_delay_ns(self._body.prompt_tokens)
            due += latency.decode_interval_ns(sizes[0] - 1)
            record.first_token_due_ns = due
            index = 0
            while index < limit:
                now = await self._pacer.until(due)
                last_due = due
                stop = index + 1
                while stop < limit:
                    due = last_due + latency.decode_interval_ns(sizes[stop])
                    if due > now:
                        break
                    last_due = due
                    stop += 1
                if write is not None:
                    await write(self._events(index, stop))
                written_ns = time.monotonic_ns()
                if index == 0:
                    record.first_token_ns = written_ns
                    if self._reasoning_chunks:
                        record.first_reasoning_token_ns = written_ns
                if index <= self._reasoning_chunks < stop:
                    record.first_content_token_ns = written_ns
                record.last_token_ns = written_ns
                record.last_token_due_ns = last_due
                record.chunks = stop
                index = stop
        finally:
            capacity.active -= 1

    def _prepare_chunks(self, pieces: list[str]) -> None:
        """Escape each chunk's text now; wrap it in its event only when written (see ``_events``).

        Rendering whole events up front cost milliseconds per long answer, all of it when a burst of
        requests arrives, which is exactly when their first tokens are due.
        """
        for reasoning in (False, True):
            field = wire.REASONING_FIELD[self._profile.dialect] if reasoning else "content"
            head, tail = self._identity.content_template(field)
            self._templates[reasoning] = (head, tail, tail + head)
        escaped = [wire.escape(piece) for piece in pieces]
        if self._profile.tokens_per_chunk == 1:
            self._chunk_texts = escaped
            return
        offsets = [0]
        for size in self._sizes:
            offsets.append(offsets[-1] + size)
        self._chunk_texts = [b"".join(escaped[a:b]) for a, b in itertools.pairwise(offsets)]

    def _events(self, start: int, stop: int) -> bytes:
        """Events for chunks ``start``..``stop - 1`` as one buffer: one write, one syscall."""
        boundary = self._reasoning_chunks
        if start < boundary < stop:
            return self._same_kind(start, boundary, True) + self._same_kind(boundary, stop, False)
        return self._same_kind(start, stop, start < boundary)

    def _same_kind(self, start: int, stop: int, reasoning: bool) -> bytes:
        head, tail, separator = self._templates[reasoning]
        if stop == start + 1:
            return head + self._chunk_texts[start] + tail
        return head + separator.join(self._chunk_texts[start:stop]) + tail

    def _time_info(self, final_ns: int) -> dict[str, float]:
        record = self._record
        first = record.first_token_ns or final_ns
        last = record.last_token_ns or final_ns
        return {
            "queue_time": _seconds(self._enqueue_ns, self._start_ns),
            "prompt_time": _seconds(self._start_ns, first),
            "completion_time": _seconds(first, last),
            "total_time": _seconds(record.arrival_ns, final_ns),
            "created": self._created,
        }

    def _conclude(self) -> wire.Ending:
        """The finish reason, usage, time_info and the behind-schedule report, recorded in the truth log."""
        record = self._record
        record.completion_tokens = self._completion_tokens
        record.reasoning_tokens = self._reasoning_tokens
        record.time_info = self._time_info(time.monotonic_ns())
        record.behind_schedule_s = self._pacer.max_late_ns / NS_PER_S
        record.behind_schedule = self._pacer.behind
        extra: dict[str, object] = {}
        if self._pacer.behind:
            self._state.note_behind_schedule(record.behind_schedule_s)
            extra["x_emulator"] = {"behind_schedule_s": record.behind_schedule_s}
            log.warning(
                "emulator fell behind its schedule by %.1f ms on request %s (%d streams decoding)",
                record.behind_schedule_s * 1000,
                record.request_id,
                self._state.capacity.active,
            )
        usage = wire.dialect_usage(
            self._profile.dialect, self._body.prompt_tokens, self._completion_tokens, self._reasoning_tokens
        )
        return wire.Ending(self._finish_reason, usage, record.time_info, extra)

    async def _stream(self, fault: FaultSpec | None) -> web.StreamResponse:
        record = self._record
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(self._request)
        role_frame = self._identity.role_frame()
        if role_frame is not None:
            await response.write(role_frame)
        record.first_byte_ns = time.monotonic_ns()
        self._prepare_chunks(self._pieces())
        limit = len(self._sizes)
        if fault is not None and fault.kind in ("stream_error", "drop"):
            limit = min(fault.after_chunks, limit)
        try:
            await self._decode(limit, response.write)
            if fault is not None and fault.kind == "malformed":
                await response.write(self._identity.malformed_chunk())
            if fault is not None and fault.kind == "drop":
                return self._drop(response)
            if fault is not None and fault.kind == "stream_error":
                await response.write(wire.stream_error_event())
            else:
                final = self._identity.closing_events(self._profile.dialect, self._conclude(), self._body.include_usage)
                await response.write(final + wire.DONE)
            await response.write_eof()
        except ConnectionResetError:
            record.outcome = "disconnected"
        return response

    async def _whole(self) -> web.Response:
        record = self._record
        pieces = self._pieces()
        await self._decode(len(self._sizes), None)
        ending = self._conclude()
        split = self._reasoning_tokens
        body = self._identity.body("".join(pieces[split:]), ending, reasoning="".join(pieces[:split]))
        headers = {BEHIND_SCHEDULE_HEADER: str(record.behind_schedule_s)} if ending.extra else {}
        response = web.Response(body=json.dumps(body).encode(), content_type="application/json", headers=headers)
        record.first_byte_ns = time.monotonic_ns()
        return response


async def handle_generation(request: web.Request, endpoint: wire.Endpoint) -> web.StreamResponse:
    arrival_ns = time.monotonic_ns()
    state = request.app[STATE]
    try:
        body = parse_generation(await request.read(), endpoint)
    except BadRequest as error:
        return json_error(400, wire.bad_request(str(error), error.param))
    profile = state.profile
    body = body.as_served_by(profile.dialect)
    if body.model not in profile.models:
        return json_error(404, wire.model_not_found(body.model))
    try:
        effort = reasoning_effort(profile, body)
    except BadRequest as error:
        return json_error(400, wire.bad_request(str(error), error.param))
    number, fault = state.faults.next_request()
    state.counters.generation_requests += 1
    record = TruthRecord(
        request_number=number,
        request_id=request.headers.get(REQUEST_ID_HEADER) or f"emulator-{number}-{uuid.uuid4().hex[:8]}",
        endpoint=endpoint,
        model=body.model,
        stream=body.stream,
        arrival_ns=arrival_ns,
        fault=None if fault is None else fault.kind,
        prompt_tokens=body.prompt_tokens,
        drift_factor=state.drift.factor,
        reasoning_effort=effort,
        service_tier=body.service_tier,
    )
    state.truth.add(record)
    reasoning = draw_reasoning_tokens(profile, effort, body.disable_reasoning, number)
    try:
        return await _Generation(request, state, profile, body, record, endpoint, reasoning).respond(fault)
    except asyncio.CancelledError:
        record.outcome = "disconnected"
        raise
    finally:
        record.end_ns = time.monotonic_ns()
