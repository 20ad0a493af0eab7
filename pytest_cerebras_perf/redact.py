"""Keeps secrets out of everything the plugin prints or writes.

The SDK and httpx build their own error messages (with URLs, sometimes headers); rather than trust
each one, every message that leaves the plugin goes through :func:`redact`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

_SECRETS: set[str] = set()
MASK = "***"
ELLIPSIS = "..."
MIN_FRAGMENT = 6
"""A secret's head or tail this long, cut by an ellipsis (pytest shortens long values that way), is masked."""


def register_secret(value: str | None) -> None:
    """Remember a value that must never be shown (keys, URL passwords). Short values are ignored."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first, so no fragment survives)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if ELLIPSIS in text:
        for secret in _SECRETS:
            text = _mask_cut_fragments(text, secret)
    return text


def _mask_cut_fragments(text: str, secret: str) -> str:
    """Mask ``...<tail of secret>`` and ``<head of secret>...``: what is left of a secret in a value
    shortened in its middle (``'Repeat this: sk-ab...89ef'``)."""
    longest = len(secret) - 1
    for size in range(longest, MIN_FRAGMENT - 1, -1):
        text = text.replace(ELLIPSIS + secret[-size:], ELLIPSIS + MASK)
        text = text.replace(secret[:size] + ELLIPSIS, MASK + ELLIPSIS)
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


def redact_report(report: Any) -> None:
    """Mask secrets in a pytest test report before the terminal, JUnit XML or pytest-xdist see it.

    pytest builds the failure text itself (assertion diffs, ``--showlocals``, ``--full-trace``) from
    the test's values, a model answer or a prompt among them; this is where that text is redacted.
    """
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        report.longrepr = (*longrepr[:2], redact(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        if redact(text) != text:
            report.longrepr = redact(text)
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [
        (name, redact(value) if isinstance(value, str) else value) for name, value in report.user_properties
    ]


class RedactedWriter:
    """The terminal reporter seen through :func:`redact`: what the plugin writes to the terminal."""

    def __init__(self, reporter: Any) -> None:
        self._reporter = reporter

    def write_line(self, line: str, **markup: bool) -> None:
        self._reporter.write_line(redact(line), **markup)

    def write_sep(self, sep: str, title: str | None = None, **markup: bool) -> None:
        self._reporter.write_sep(sep, None if title is None else redact(title), **markup)
