"""The sentence that explains a verdict a green or red tick alone would misrepresent.

Plain text from a gate decision in its results-JSON form, so the terminal, the JUnit properties,
the HTML report and the CI summary all say the same thing (numbers through report.units, which
loads no renderer, so the plugin can import this at start-up).
"""

from __future__ import annotations

import math

from .report.units import format_change, format_percent
from .results_doc import GateDoc


def caveat(decision: GateDoc, concurrency: int = 1) -> str:
    """What an ``underpowered`` or ``drifting`` verdict means, in one sentence ("" for any other).

    The terminal, the JUnit properties and the report all show this text, so a green tick that
    could not have seen its own tolerance, or a slow slide the rolling baseline absorbed, reads the
    same everywhere. ``concurrency`` turns the gate's sample size into ``--iterations``.
    """
    kind = decision.get("verdict")
    if kind == "underpowered":
        text = (
            f"passed, but could not have seen a regression of its own tolerance: MDE "
            f"{format_percent(decision.get('mde'))} > tolerance {format_percent(decision.get('tolerance'))}"
        )
        needed = decision.get("iterations_needed")
        if needed:
            return text + f"; --iterations {math.ceil(int(needed) / max(1, concurrency))} would bring it under"
        return text + "; no --iterations can: the drift alone exceeds it (save more baseline runs, on different days)"
    if kind == "drifting":
        text = (
            f"{format_change(decision.get('trend'))} worse in total across {decision.get('trend_runs')} runs "
            f"(trend p = {float(decision.get('trend_p_value') or 0):.2g}), a slow slide the rolling baseline absorbed"
        )
        return text + (
            "; fails the test (--perf-fail-on-drift)" if decision.get("fails") else "; --perf-fail-on-drift fails it"
        )
    return ""
