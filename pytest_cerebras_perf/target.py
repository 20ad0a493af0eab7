"""Which endpoint a session measures, and the SDK clients that reach it.

``auto`` picks a base URL if one was given, else the Cerebras cloud if a key is set, else the
built-in emulator, so a first run needs no setup and can never be mistaken for a cloud run: the
emulator's kind is part of the baseline key and is shouted in every artifact.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx
from cerebras.cloud.sdk import AsyncCerebras, DefaultAioHttpClient

from .redact import redact, register_secret, register_url_credentials, strip_credentials
from .settings import Secret, Settings

CLOUD_URL = "https://api.cerebras.ai"
EndpointKind = Literal["emulator", "cloud", "custom"]


class TargetError(Exception):
    """The endpoint cannot be used (unreachable, unknown model); one line, no secrets."""


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    base_url: str
    api_key: Secret = field(repr=False)
    emulator_profile: str | None = None

    @property
    def display_url(self) -> str:
        return strip_credentials(self.base_url)

    @property
    def key(self) -> str:
        """The baseline folder: emulator numbers are never compared with cloud numbers.

        The emulator's profile is not part of the key: a slower profile is to the gate what a
        slower endpoint is, which is how the gate's own end-to-end tests simulate a regression.
        """
        if self.kind != "custom":
            return self.kind
        parts = urlsplit(self.base_url)
        host = f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)
        return "custom-" + re.sub(r"[^A-Za-z0-9.\-]+", "_", host + parts.path).strip("_")

    def describe(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "base_url": self.display_url,
            "emulator_profile": self.emulator_profile,
        }


def choose_kind(settings: Settings) -> EndpointKind:
    if settings.target == "emulator":
        return "emulator"
    if settings.target == "cloud":
        return "cloud"
    if settings.target == "url" or settings.base_url:
        return "custom"
    return "cloud" if settings.api_key else "emulator"


def endpoint_for(settings: Settings, *, emulator_url: str | None = None, emulator_key: str | None = None) -> Endpoint:
    kind = choose_kind(settings)
    if kind == "emulator":
        if emulator_url is None or emulator_key is None:
            raise TargetError("the emulator was not started")
        return Endpoint("emulator", emulator_url, Secret(emulator_key), settings.emulator_profile)
    base_url = CLOUD_URL if kind == "cloud" else str(settings.base_url)
    register_url_credentials(base_url)
    # OpenAI-compatible servers often need no key, but the SDK insists on one.
    key = settings.api_key or Secret("no-key-required")
    register_secret(key.reveal())
    return Endpoint(kind, base_url, key)


def new_emulator_key() -> str:
    key = "emu-" + secrets.token_urlsafe(16)
    register_secret(key)
    return key


def build_client(
    endpoint: Endpoint, *, pool_size: int, timeout: float, on_request: Callable[[httpx.Request], Awaitable[None]]
) -> AsyncCerebras:
    """An ``AsyncCerebras`` over the aiohttp transport: no SDK retries, no hidden warming request,
    and a pool as large as the concurrency so requests never queue for a connection."""
    http_client = DefaultAioHttpClient(
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
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


async def list_models(client: AsyncCerebras) -> list[str]:
    """Model ids the endpoint serves; a failure becomes a one-line :class:`TargetError`."""
    try:
        page = await client.models.list()
    except Exception as exc:  # any transport or status error means the endpoint is unusable
        raise TargetError(redact(f"{type(exc).__name__}: {exc}").splitlines()[0]) from None
    return [model.id for model in page.data]
