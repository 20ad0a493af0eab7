"""What a saturated run (``aggregate.client.saturated``) says: what the endpoint really saw, why, and what would help.

One sentence, built from the run's aggregate (load.py) when it is measured, so the terminal, the
results JSON and the report say the same thing. The advice follows the cause: more client processes
(up to the cores this machine has), fewer streams per process or, with every core in use, a bigger
machine; and when the client got under half a core per process, other processes held the CPU, so
first a quieter machine.
"""

from __future__ import annotations

import os

from .report.units import format_percent, format_value
from .results_doc import Aggregate
from .settings import OPTIONS, Settings

BUSY_CLIENT = 0.5
"""Share of a core per client process above which the client's own work is taken as the cause."""


def achieved_text(aggregate: Aggregate) -> str:
    """The achieved concurrency next to the requested one: ``55.3 of 64`` (open loop: ``55.3``)."""
    achieved, requested = aggregate.get("achieved_concurrency"), aggregate.get("requested_concurrency")
    if achieved is None:
        return "–"
    return f"{achieved:.1f}" if not requested else f"{achieved:.1f} of {requested}"


SATURATED = "the client was saturated"


def describe(aggregate: Aggregate) -> str:
    """What a saturated run's endpoint saw and why, with the figures (no advice)."""
    client = aggregate["client"]
    wait = format_value(client.get("pre_send_wait_p99"), "s")
    lag = format_value(client.get("loop_lag_p99"), "s")
    held = (
        f"the endpoint saw {achieved_text(aggregate)} requests in flight on average"
        if aggregate.get("achieved_concurrency") is not None
        else f"requests spent {format_percent(client.get('dispatch_share'))} of their time waiting to be sent"
    )
    if client.get("saturation") == "worker":
        workers = ", ".join(client.get("saturated_workers") or [])
        return f"{SATURATED}: client worker(s) {workers} failed their own self-check; {held}"
    if client.get("saturation") == "event_loop":
        return f"{SATURATED}: its event loop woke up {lag} late (p99), so chunks were stamped late; {held}"
    return f"{SATURATED}: {held}; requests waited {wait} (p99) for the client before they were sent"


def client_busy_share(aggregate: Aggregate, workers: int) -> float | None:
    """CPU the client processes used, as a share of one core each, over the measured window."""
    window, cpu = aggregate["window"], aggregate["client"].get("cpu_seconds")
    if not window or cpu is None:
        return None
    return cpu / (window * workers)


def advice(aggregate: Aggregate, settings: Settings, cores: int | None = None) -> str:
    """What would help, for the cause at hand (see the module docstring)."""
    cores = cores or os.cpu_count() or 1
    fewer = "a lower --request-rate" if settings.request_rate else "fewer streams (a lower --concurrency)"
    helps = [fewer]
    if settings.workers < cores:
        helps.insert(0, f"--perf-workers {min(cores, 2 * settings.workers)} (this machine has {cores} cores)")
    else:
        helps.append(f"a bigger machine ({settings.workers} client processes already use all {cores} cores)")
    if any(option.flag == "--perf-ray" for option in OPTIONS):
        helps.append("--perf-ray to spread the client over more machines")
    text = "what would help: " + ", or ".join(helps)
    busy = client_busy_share(aggregate, settings.workers)
    if busy is not None and busy < BUSY_CLIENT:
        return (
            f"the client got only {format_percent(busy)} of a core per process, so other processes held this "
            f"machine's CPU: first measure where the client has its cores to itself; then {text}"
        )
    return text


def saturation_warning(aggregate: Aggregate, settings: Settings) -> str | None:
    """The run's one-line warning when it was not gated because the client was saturated."""
    if not aggregate["client"]["saturated"]:
        return None
    return f"{describe(aggregate)}; its figures are not gated; {advice(aggregate, settings)}"
