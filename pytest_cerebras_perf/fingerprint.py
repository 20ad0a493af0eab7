"""``system_fingerprint``: the endpoint's name for the model build that answered.

A change of it means the model changed under the same id, which explains (and can excuse) a
shift in latency or reasoning length. It is recorded per sample and per accepted baseline run, and a
change within a run or from the baseline's last run becomes a warning in the terminal and report.
"""

from __future__ import annotations

from collections.abc import Sequence

from .baselines import ScenarioBaseline
from .metrics import Sample


def fingerprints(samples: Sequence[Sample]) -> tuple[str, ...]:
    """The distinct fingerprints of successful samples, in the order they first appeared."""
    seen = (s.response.system_fingerprint for s in samples if s.ok)
    return tuple(dict.fromkeys(f for f in seen if f))


def fingerprint_warnings(samples: Sequence[Sample], baseline: ScenarioBaseline | None) -> list[str]:
    current = fingerprints(samples)
    notes = []
    if len(current) > 1:
        notes.append(f"system_fingerprint changed during the run ({' -> '.join(current)}): the model changed")
    previous = baseline.runs[-1].system_fingerprints if baseline is not None and baseline.runs else ()
    if previous and current and not set(current) & set(previous):
        notes.append(
            f"system_fingerprint {', '.join(current)} differs from the baseline's {', '.join(previous)}: "
            "the model changed since the baseline was accepted"
        )
    return notes
