"""The HTTP side: API routes, auth, rate-limit headers on every API response, and the serve loop.

One asyncio process with HTTP/1.1 keep-alive and chunked streaming. Handlers are cancelled when
their client disconnects (``handler_cancellation``), so an abandoned or hung request stops using
the decode capacity at once, as on a real server.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import admin, wire
from .generation import handle_generation, json_error
from .state import STATE, EmulatorState

API_PREFIX = "/v1/"
SHUTDOWN_GRACE_S = 1.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorized(request: web.Request, api_key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Connection counting, auth and Cerebras-style errors for ``/v1/``; admin routes pass through."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    state = request.app[STATE]
    state.note_api_request(request.transport)
    if state.api_key is not None and not _authorized(request, state.api_key):
        return json_error(401, wire.WRONG_API_KEY)
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return json_error(404, wire.not_found(request.path))
    except web.HTTPMethodNotAllowed:
        return json_error(405, wire.method_not_allowed(request.method, request.path))


async def _rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every API response, errors included, carries the ``x-ratelimit-*`` headers, as the real API's do."""
    if request.path.startswith(API_PREFIX):
        response.headers.update(request.app[STATE].limits.headers(time.monotonic()))


def _model_entry(model: str) -> dict[str, object]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "Cerebras"}


async def list_models(request: web.Request) -> web.Response:
    models = request.app[STATE].profile.models
    return web.json_response({"object": "list", "data": [_model_entry(model) for model in models]})


async def retrieve_model(request: web.Request) -> web.Response:
    model = request.match_info["model_id"]
    if model not in request.app[STATE].profile.models:
        return json_error(404, wire.model_not_found(model))
    return web.json_response(_model_entry(model))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "chat")


async def text_completions(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "text")


async def tcp_warming(request: web.Request) -> web.Response:
    """The SDK calls this when a client is built, only to open the connection early."""
    return web.Response(text="")


def create_app(state: EmulatorState) -> web.Application:
    app = web.Application(middlewares=[api_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.on_response_prepare.append(_rate_limit_headers)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", text_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model_id}", retrieve_model)
    app.router.add_get("/v1/tcp_warming", tcp_warming)
    admin.add_routes(app)
    return app


async def serve(
    state: EmulatorState, host: str, port: int, on_ready: Callable[[str], None], stop: asyncio.Event
) -> None:
    """Serve until ``stop`` is set; ``on_ready`` gets the bound URL (the real port when ``port`` is 0)."""
    runner = web.AppRunner(
        create_app(state), access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_GRACE_S
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        on_ready(f"http://{url_host}:{bound_port}")
        await stop.wait()
    finally:
        await runner.cleanup()
