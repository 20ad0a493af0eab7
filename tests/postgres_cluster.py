"""A throw-away PostgreSQL for the history tests: the server CI started, or one started here.

CI (``.ci/run``) starts one cluster and exports ``CEREBRAS_PERF_TEST_POSTGRES_URL``; each test
module then gets a fresh database on it. Without that variable (a developer's machine with
Debian's ``postgresql`` installed) a module starts its own cluster from the binaries on PATH or in
``/usr/lib/postgresql/*/bin``, with a random password, on a loopback port. initdb refuses root, so
as root the server runs as the ``postgres`` user (or ``nobody``).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_ENV = "CEREBRAS_PERF_TEST_POSTGRES_URL"
USER = "perf"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return candidates[-1]
    pytest.fail(f"PostgreSQL's {name} not found: apt-get install postgresql, or set {URL_ENV}")


def _as_server_user() -> tuple[list[str], int | None]:
    """The command prefix (and uid) that runs the server: as root, another user."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            return ["runuser", "-u", name, "--"], pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
    pytest.fail("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def own_cluster() -> Iterator[str]:
    """Start a cluster with a random password; yield its URL; stop and delete it."""
    prefix, uid = _as_server_user()
    home = Path(tempfile.mkdtemp(prefix="cerebras-perf-pg-"))
    password = secrets.token_urlsafe(18)
    (home / "pw").write_text(password + "\n")
    if uid is not None:
        for path in (home, home / "pw"):
            os.chown(path, uid, -1)
    data, port = home / "data", _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    try:
        subprocess.run(
            [
                *prefix,
                _binary("initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=scram-sha-256",
                f"--pwfile={home / 'pw'}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            **quiet,  # type: ignore[call-overload]
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off"
        subprocess.run(
            [*prefix, _binary("pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "-o", options, "start"],
            **quiet,  # type: ignore[call-overload]
        )
        yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], **quiet)  # type: ignore[call-overload]
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on ``server_url``'s server; dropped afterwards."""
    import psycopg

    name = f"perf_test_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on CI's server, or on a cluster of this module's own."""
    shared = os.environ.get(URL_ENV)
    if shared:
        with fresh_database(shared) as url:
            yield url
        return
    with own_cluster() as server, fresh_database(server) as url:
        yield url
