"""``python -m pytest_cerebras_perf.emulator``: run the emulator until SIGTERM or SIGINT.

The first stdout line is the bound URL (flushed), which is how a parent process learns the port
when it asked for port 0; nothing else is written to stdout. Logs and errors go to stderr, a bad
profile as one line naming the file and the field (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from .profile import builtin_names, load_profile, parse_assignments
from .server import serve
from .state import EmulatorState
from .timer import new_event_loop
from .validation import ConfigError

EXIT_BAD_PROFILE = 2
MAX_PORT = 65535


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_cerebras_perf.emulator",
        description="A local Cerebras-compatible inference API with a controllable latency model.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--profile",
        default="fast",
        help=f"a built-in profile ({', '.join(builtin_names())}) or a YAML file (default: fast)",
    )
    parser.add_argument("--api-key", default=None, help="require this Bearer key on /v1/ routes")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a profile field (value parsed as YAML); repeatable",
    )
    return parser


def _port(raw: str) -> int:
    """A TCP port number, else argparse's one-line usage error (binding 99999 raises OverflowError)."""
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a TCP port (0-{MAX_PORT})")
    return port


def _announce(url: str) -> None:
    print(url, flush=True)


async def _run(state: EmulatorState, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(state, host, port, _announce, stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s emulator %(levelname)s %(message)s")
    try:
        profile = load_profile(args.profile, parse_assignments(args.assignments))
    except ConfigError as error:
        print(f"emulator: bad profile: {error}", file=sys.stderr, flush=True)
        return EXIT_BAD_PROFILE
    loop = new_event_loop()
    try:
        loop.run_until_complete(_run(EmulatorState(profile, args.api_key), args.host, args.port))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
