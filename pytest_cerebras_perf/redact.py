"""Keeps secrets out of everything the plugin prints or writes.

The SDK and httpx build their own error messages (with URLs, sometimes headers); rather than trust
each one, every message that leaves the plugin goes through :func:`redact`.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

_SECRETS: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a value that must never be shown (keys, URL passwords). Short values are ignored."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first, so no fragment survives)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def strip_credentials(url: str) -> str:
    """``url`` without its user info: ``https://user:pw@host/x`` becomes ``https://host/x``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def register_url_credentials(url: str | None) -> None:
    """Register a URL's password, as written and percent-decoded (libraries show either)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.password:
        register_secret(parts.password)
        register_secret(unquote(parts.password))
        if parts.username:
            register_secret(f"{parts.username}:{parts.password}")
