"""Small hostile OpenAI-compatible servers for tests, for what the emulator never does: a 401 whose
body echoes the request's Authorization header, and a gateway that reports rate-limit resets in
milliseconds (86,400,000 for a day) while the client reads them as seconds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "hostile-model"


class _EchoingHandler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        models = [{"id": MODEL, "object": "model", "created": 0, "owned_by": "hostile"}]
        self._answer(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        header = self.headers.get("authorization", "")
        message = f"Wrong API Key: you sent '{header}'"
        self._answer(401, {"message": message, "type": "invalid_request_error", "code": "wrong_api_key"})

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads pytest's output
        pass


DAY_IN_MS = "86400000"


def _chunk(delta: dict[str, str], **extra: object) -> bytes:
    event = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "system_fingerprint": "fp_hostile",
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if not delta else None}],
        **extra,
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class _MillisecondGatewayHandler(_EchoingHandler):
    """Streams a short answer saying the minute's requests are spent until a reset in 86,400,000
    "seconds"; a prompt containing "refuse" gets a 429 with that retry-after instead."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if "refuse" in json.dumps(body["messages"]):
            data = json.dumps({"message": "Requests per minute limit exceeded", "code": "request_quota_exceeded"})
            self.send_response(429)
            self.send_header("retry-after", DAY_IN_MS)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())
            return
        usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        stream = _chunk({"content": "hi "}) + _chunk({"content": "there"}) + _chunk({}, usage=usage)
        stream += b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(stream)))
        self.send_header("x-ratelimit-remaining-requests-minute", "0")
        self.send_header("x-ratelimit-reset-requests-minute", DAY_IN_MS)
        self.end_headers()
        self.wfile.write(stream)


@contextmanager
def echoing_401_server() -> Iterator[str]:
    """Serve on a free loopback port; yields the base URL."""
    with _serving(_EchoingHandler) as url:
        yield url


@contextmanager
def millisecond_gateway() -> Iterator[str]:
    """Serve on a free loopback port; yields the base URL."""
    with _serving(_MillisecondGatewayHandler) as url:
        yield url


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
