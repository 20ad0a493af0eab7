"""SIGTERM handled like Ctrl-C, and pytest-xdist workers that do not outlive their controller.

``timeout``, GitLab, Jenkins and Kubernetes cancel a job with SIGTERM, whose default action kills
pytest before it writes anything. Raising KeyboardInterrupt instead lets pytest end the run as an
interruption: what was measured is written, marked partial, no baseline is accepted, exit status 2.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

# How often an xdist worker checks that its controller is still alive.
PARENT_POLL_S = 0.1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def sigterm_interrupts() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; returns what restores the old handler.
    Does nothing outside the main thread or when someone else already handles SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return lambda: None
    signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def interrupt_once() -> None:
    """A pytest-xdist worker: the first SIGINT or SIGTERM interrupts it (its controller forwards
    one, a terminal's Ctrl-C sends another to the whole process group); later ones are ignored so
    that it can hand what it measured to the controller. The controller kills it if it hangs."""
    if threading.current_thread() is not threading.main_thread():
        return

    def once(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _interrupt(signum, frame)

    signal.signal(signal.SIGINT, once)
    signal.signal(signal.SIGTERM, once)


def exit_when_orphaned(poll: float = PARENT_POLL_S) -> None:
    """A daemon thread that ends this process at once when its parent dies (SIGKILL, crash): an
    orphaned pytest-xdist worker would otherwise go on sending requests nobody will read. The
    worker writes no file, so nothing is lost; its client processes die with it (PR_SET_PDEATHSIG)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(poll)
        os._exit(1)

    threading.Thread(target=watch, name="cerebras-perf-orphan-watch", daemon=True).start()
