"""Which endpoint a session measures, and the SDK clients that reach it.

``auto`` picks a base URL if one was given, else the Cerebras cloud if a key is set, else the
built-in emulator, so a first run needs no setup and can never be mistaken for a cloud run: the
emulator's kind is part of the baseline key and is shouted in every artifact.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import httpx
from cerebras.cloud.sdk import APIStatusError, AsyncCerebras, DefaultAioHttpClient
from httpx_aiohttp import AiohttpTransport

from .measure import server_message
from .redact import redact, strip_credentials
from .results_doc import TargetDoc
from .settings import EndpointKind, Secret, Settings, choose_kind

CLOUD_URL = "https://api.cerebras.ai"
PREFERRED_CLOUD_MODEL = "gpt-oss-120b"
"""The cloud's recommended model (October 2026); models are retired often, so it is only a preference."""


class TargetError(Exception):
    """The endpoint cannot be used (unreachable, unknown model); one line, no secrets."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. ``base_url`` never holds credentials: the SDK sends the key as
    ``Authorization: Bearer``, which URL user info would clash with (aiohttp refuses the request,
    httpx replaces the key with Basic auth), so ``dropped_credentials`` says they were left out."""

    kind: EndpointKind
    base_url: str
    api_key: Secret = field(repr=False)
    emulator_profile: str | None = None
    dropped_credentials: bool = False
    name: str | None = None

    @property
    def key(self) -> str:
        """The baseline set (folder): emulator numbers are never compared with cloud numbers.

        ``--perf-target-name NAME`` makes it ``<kind>-NAME``: the user says which runs belong
        together. Without a name, a custom endpoint is ``custom-<host><path>`` with the port left
        out, on purpose: the port is the part of an address that changes by itself (a CI service
        container or a vLLM server started per job on a free port, a port forward), and keying on
        it gave every such run a fresh, empty baseline set, so nothing was ever gated. Two servers
        on one host that must be kept apart get a name each. The emulator's profile is not part of
        the key either: a slower profile is to the gate what a slower endpoint is, which is how
        the gate's own end-to-end tests simulate a regression.
        """
        if self.name is not None:
            return f"{self.kind}-{self.name}"
        if self.kind != "custom":
            return self.kind
        parts = urlsplit(self.base_url)
        return "custom-" + re.sub(r"[^A-Za-z0-9.\-]+", "_", str(parts.hostname) + parts.path).strip("_")

    def describe(self, model: str | None) -> TargetDoc:
        """The target as recorded in the results (no API key), with the baseline set it is gated against."""
        return {
            "kind": self.kind,
            "base_url": self.base_url,
            "model": model,
            "emulator_profile": self.emulator_profile,
            "baseline_set": self.key,
        }


def endpoint_for(settings: Settings, *, emulator_url: str | None = None, emulator_key: str | None = None) -> Endpoint:
    kind = choose_kind(settings)
    if kind == "emulator":
        if emulator_url is None or emulator_key is None:
            raise TargetError("the emulator was not started")
        profile, name = settings.emulator_profile, settings.target_name
        return Endpoint("emulator", emulator_url, Secret(emulator_key), profile, name=name)
    base_url = CLOUD_URL if kind == "cloud" else str(settings.base_url)
    # OpenAI-compatible servers often need no key, but the SDK insists on one.
    key = settings.api_key or Secret("no-key-required")
    bare_url = strip_credentials(base_url)
    return Endpoint(kind, bare_url, key, dropped_credentials=bare_url != base_url, name=settings.target_name)


def new_emulator_key() -> str:
    """A fresh key per session, so the emulator answers only this session's clients."""
    return "emu-" + secrets.token_urlsafe(16)


def build_client(
    endpoint: Endpoint,
    *,
    pool_size: int,
    timeout: float,
    on_request: Callable[[httpx.Request], Awaitable[None]],
    trace: aiohttp.TraceConfig,
) -> AsyncCerebras:
    """An ``AsyncCerebras`` over the aiohttp transport: no SDK retries, no hidden warming request,
    a pool as large as the concurrency so requests never queue for a connection, and ``trace`` on
    the aiohttp session so t0 can be stamped when the request really leaves (measure.py)."""
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)

    def session() -> aiohttp.ClientSession:  # built on first use, inside the loop that will use it
        connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=limits.keepalive_expiry)
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace])

    http_client = DefaultAioHttpClient(
        transport=AiohttpTransport(limits=limits, client=session),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        event_hooks={"request": [on_request]},
    )
    return AsyncCerebras(
        api_key=endpoint.api_key.reveal(),
        base_url=endpoint.base_url,
        max_retries=0,
        timeout=timeout,
        http_client=http_client,
        warm_tcp_connection=False,
    )


async def list_models(client: AsyncCerebras, endpoint: Endpoint) -> list[str]:
    """Model ids the endpoint serves; a failure becomes a one-line :class:`TargetError` that says
    which endpoint (and which option) and what went wrong."""
    try:
        page = await client.models.list()
    except APIStatusError as exc:
        raise TargetError(_refused(endpoint, exc)) from None
    except Exception as exc:  # any transport error means the endpoint is unusable
        raise TargetError(f"{_where(endpoint)}: cannot reach it: {_root_cause(exc)}") from None
    models = getattr(page, "data", None)
    if not isinstance(models, list) or not all(isinstance(getattr(m, "id", None), str) for m in models):
        # a proxy's HTML page, a JSON document of another shape: the SDK hands it over as it came
        said = server_message(page if isinstance(page, str) else repr(page))
        raise TargetError(
            f"{_where(endpoint)}: GET /v1/models answered something that is not a model list: {redact(said)}"
        )
    return [model.id for model in models]


def default_model(endpoint: Endpoint, models: list[str]) -> str | None:
    """Without ``--model``: on the cloud the preferred model when it is listed, else (and on any other
    endpoint, the emulator included, whose profile lists its own model first) the first one listed."""
    if endpoint.kind == "cloud" and PREFERRED_CLOUD_MODEL in models:
        return PREFERRED_CLOUD_MODEL
    return models[0] if models else None


def _where(endpoint: Endpoint) -> str:
    option = {"cloud": "the Cerebras cloud", "custom": "--perf-base-url", "emulator": "the emulator"}[endpoint.kind]
    return f"{option} {endpoint.base_url}"


def _refused(endpoint: Endpoint, exc: APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    reason = redact(str(body.get("message") or exc.message)).splitlines()[0]
    line = f"{_where(endpoint)}: GET /v1/models answered {exc.status_code} ({reason})"
    if exc.status_code in (401, 403):
        line += "; check the API key (CEREBRAS_API_KEY, .env or ini perf_api_key)"
        if endpoint.dropped_credentials:
            line += "; user:password in the URL is not sent (the key uses the Authorization header)"
    return line


def _root_cause(exc: BaseException) -> str:
    """The innermost error's text: the SDK says "Connection error.", the socket says why
    ("Connection refused", "Name or service not known")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if isinstance(exc, OSError) and exc.errno:  # resolver errors (socket.gaierror) have negative numbers
        return os.strerror(exc.errno) if exc.errno > 0 else str(exc.strerror)
    return redact(str(exc) or type(exc).__name__).splitlines()[0]
