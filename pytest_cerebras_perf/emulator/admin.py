"""The ``/_emulator/...`` admin API: faults, profile, drift, ground truth, counters, reset, clock.

Tests and benchmarks steer the running emulator through it; it needs no API key and answers JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from .faults import parse_faults
from .state import STATE
from .validation import ConfigError, as_mapping, as_number

PREFIX = "/_emulator"
T = TypeVar("T")


def _bad_request(error: ValueError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": str(error)}), content_type="application/json")


async def _posted(request: web.Request, name: str, read: Callable[[dict[str, object], str], T]) -> T:
    """The JSON body of ``POST /_emulator/<name>``, as ``read`` takes it (given the body and where it
    came from, for its error messages); a body that is no JSON object, or that ``read`` refuses, is a 400."""
    source = f"POST {PREFIX}/{name}"
    try:
        body = as_mapping(json.loads(await request.read()), source, "body")
    except ValueError as error:  # json.JSONDecodeError and ConfigError both are ValueErrors
        raise _bad_request(error) from error
    try:
        return read(body, source)
    except ConfigError as error:
        raise _bad_request(error) from error


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [fault.to_dict() for fault in request.app[STATE].faults.faults]})


async def post_faults(request: web.Request) -> web.Response:
    faults = await _posted(request, "faults", lambda body, source: parse_faults(body.get("faults", []), source))
    request.app[STATE].set_faults(faults)
    return await get_faults(request)


async def get_profile(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].profile.to_dict())


async def post_profile(request: web.Request) -> web.Response:
    profile = await _posted(request, "profile", request.app[STATE].update_profile)
    return web.json_response(profile.to_dict())


async def get_truth(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"records": state.truth.to_list(), "drift": state.drift.to_dict()})


async def delete_truth(request: web.Request) -> web.Response:
    request.app[STATE].truth.clear()
    return web.json_response({"cleared": True})


async def get_drift(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].drift.to_dict())


async def post_drift(request: web.Request) -> web.Response:
    """``{"factor": f}`` imposes a drift factor from the next request on (f > 0; 1 = no drift)."""
    factor = await _posted(
        request, "drift", lambda body, source: as_number(body.get("factor"), source, "factor", strict=True)
    )
    return web.json_response(request.app[STATE].set_drift_factor(factor).to_dict())


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def get_clock(request: web.Request) -> web.Response:
    """Both clocks of the server process, so a client can check they match its own."""
    return web.json_response({"monotonic_ns": time.monotonic_ns(), "perf_counter_ns": time.perf_counter_ns()})


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/faults", get_faults)
    app.router.add_post(f"{PREFIX}/faults", post_faults)
    app.router.add_get(f"{PREFIX}/profile", get_profile)
    app.router.add_post(f"{PREFIX}/profile", post_profile)
    app.router.add_get(f"{PREFIX}/truth", get_truth)
    app.router.add_delete(f"{PREFIX}/truth", delete_truth)
    app.router.add_get(f"{PREFIX}/drift", get_drift)
    app.router.add_post(f"{PREFIX}/drift", post_drift)
    app.router.add_get(f"{PREFIX}/stats", get_stats)
    app.router.add_post(f"{PREFIX}/reset", post_reset)
    app.router.add_get(f"{PREFIX}/clock", get_clock)
