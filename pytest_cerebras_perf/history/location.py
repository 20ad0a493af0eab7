"""Which database holds the history: ``--perf-history`` / ``CEREBRAS_PERF_HISTORY``, resolved once.

Default: ``perf-history.sqlite`` beside the baselines. A ``postgresql://`` URL points a team at one
server; its password is registered for redaction the moment it is read, and everything the plugin
shows names the database by :func:`describe`, which drops the credentials. Stdlib only, so the
settings can validate it without loading SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..redact import register_url_credentials, strip_credentials

DEFAULT_FILE = "perf-history.sqlite"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class LocationError(ValueError):
    """A ``--perf-history`` value that names no database; the message is one line."""


def history_url(raw: str | None, *, baseline_dir: Path, root: Path, source: str) -> str | None:
    """The database URL (``sqlite:///abs/path`` or ``postgresql+psycopg://...``), or None for 'none'."""
    if raw is None or not str(raw).strip():
        return f"sqlite:///{baseline_dir / DEFAULT_FILE}"
    text = str(raw).strip()
    if text.lower() == "none":
        return None
    register_url_credentials(text)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(text)
        if not parts.hostname and "host=" not in parts.query:
            raise LocationError(f"{source}: a PostgreSQL URL needs a host, like postgresql://user@host:5432/perf")
        return "postgresql+psycopg://" + text.partition("://")[2]
    if scheme == "sqlite":
        return text
    if scheme:
        raise LocationError(f"{source}: expected a file path, a postgresql:// URL or 'none', got a {scheme}:// URL")
    path = Path(text).expanduser()
    return f"sqlite:///{path if path.is_absolute() else root / path}"


def describe(url: str) -> str:
    """The database as shown to people: a SQLite file's path, a server URL without credentials."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    return strip_credentials(url.replace("postgresql+psycopg://", "postgresql://", 1))


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")
