"""A deliberately broken OpenAI-compatible server, for the tests of what the plugin does with bad data.

The emulator only fails the way a healthy server fails (5xx, 429, drops, hangs); this server sends
what a buggy or misconfigured one does. Each behaviour is a path prefix, so one process serves them
all: the base URL ``http://127.0.0.1:PORT/<mode>`` makes the SDK call ``/<mode>/v1/...``.

``python tests/hostile_server.py`` binds a free loopback port and prints its URL as the first line;
:class:`HostileServer` runs it as a child process for a test module.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

MODEL = "hostile-model"
MODES = {
    "ok": "a well-formed stream of four content tokens",
    "echo": "streams the last user message back as its content",
    "nan-time-info": "a well-formed stream whose time_info holds NaN, Infinity and 1e308 (as Python servers send)",
    "malformed": "request 2: choices [null]; 3: completion_tokens 'lots'; 4: completion_tokens NaN; others good",
    "endless": "content chunks of 64 KiB, without end",
    "empty": "a role chunk, usage and [DONE]: no content token at all",
    "html": "HTTP 200 with an HTML page instead of a stream",
    "html-models": "HTTP 200 with an HTML page instead of the model list",
    "json-error": "HTTP 200 with a JSON error document instead of a stream",
}
HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>upstream unavailable</h1></body></html>"
JSON_ERROR = {"error": {"message": "model overloaded: try again later", "type": "overloaded", "code": "busy"}}
ENDLESS_PIECE = "x" * (64 * 1024)


def _chunk(delta: dict[str, Any], **extra: Any) -> bytes:
    event = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        **extra,
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _final(usage: dict[str, Any], time_info: dict[str, Any]) -> bytes:
    event = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": usage,
        "time_info": time_info,
    }
    # json.dumps writes NaN and Infinity by default: exactly what a Python server sends
    return b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"


GOOD_TIME_INFO = {"queue_time": 0.001, "prompt_time": 0.002, "completion_time": 0.01, "total_time": 0.013}


class Hostile:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    async def models(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["mode"] == "html-models":
            return web.Response(text=HTML_PAGE, content_type="text/html")
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        body = await request.json()
        self.requests[mode] += 1
        number = self.requests[mode]
        if mode == "html":
            return web.Response(text=HTML_PAGE, content_type="text/html")
        if mode == "json-error":
            return web.json_response(JSON_ERROR)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk({"role": "assistant", "content": ""}))
        if mode == "endless":
            while True:
                await response.write(_chunk({"content": ENDLESS_PIECE}))
        pieces = ["one ", "two ", "three ", "four"]
        if mode == "echo":
            pieces = [str(body["messages"][-1]["content"])]
        if mode == "empty":
            pieces = []
        for piece in pieces:
            await response.write(_chunk({"content": piece}))
        usage: dict[str, Any] = {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 5 + len(pieces)}
        time_info: dict[str, Any] = dict(GOOD_TIME_INFO)
        if mode == "nan-time-info":
            time_info = {"queue_time": float("nan"), "prompt_time": float("inf"), "completion_time": 1e308}
            time_info["total_time"] = float("nan")
        if mode == "malformed" and number == 2:
            await response.write(b'data: {"id": "x", "choices": [null]}\n\n')
        if mode == "malformed" and number == 3:
            usage["completion_tokens"] = "lots"
        if mode == "malformed" and number == 4:
            usage["completion_tokens"] = float("nan")
        await response.write(_final(usage, time_info))
        await response.write_eof()
        return response


async def _serve() -> None:
    hostile = Hostile()
    app = web.Application()
    app.router.add_get("/{mode}/v1/models", hostile.models)
    app.router.add_post("/{mode}/v1/chat/completions", hostile.chat)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


class HostileServer:
    """The server as a child process: ``with HostileServer() as server: server.url("echo")``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._base = ""

    def __enter__(self) -> HostileServer:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__))], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self._process.stdout is not None
        self._base = self._process.stdout.readline().strip()
        if not self._base.startswith("http://"):
            self._process.kill()
            raise RuntimeError("the hostile server did not start")
        return self

    def url(self, mode: str) -> str:
        assert mode in MODES, mode
        return f"{self._base}/{mode}"

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(_serve())
