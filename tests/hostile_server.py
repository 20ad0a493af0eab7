"""A small hostile OpenAI-compatible server for tests: it lists one model, then answers every
completion with a 401 whose body echoes the request's Authorization header, as some gateways do.
The emulator never echoes a key, so leak tests need this one."""

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


@contextmanager
def echoing_401_server() -> Iterator[str]:
    """Serve on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
