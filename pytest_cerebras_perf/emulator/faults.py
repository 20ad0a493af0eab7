"""Fault injection: which generation request gets which failure.

Tests and benchmarks need failures that happen on a known request (``at``), regularly (``every``)
or at a known rate (``probability``, from a seeded RNG so a run can be repeated). Request numbers
count generation requests (chat and text completions) since the fault list was last set or the
server was reset, starting at 1, so a test can set a fault and know that its next request gets it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from .validation import ConfigError, as_int, as_list, as_mapping, as_number, as_probability, as_str

FAULT_KINDS = (
    "http_500",
    "http_503",
    "rate_limit_rpm",
    "rate_limit_tpm",
    "rate_limit_tpd",
    "stream_error",
    "drop",
    "hang",
    "slow_first_byte",
    "malformed",
)


@dataclass(frozen=True)
class FaultSpec:
    """One fault rule. With no selector (no ``at``, ``every`` or ``probability``) it hits every request.

    ``after_chunks``: content chunks sent before ``stream_error`` / ``drop`` strike (0 = before headers
    for ``drop``). ``malformed`` sends every content chunk, then one whose only choice is ``null``,
    then ends the stream normally, as a buggy server would.
    ``delay``: seconds before the response starts for ``slow_first_byte``.
    ``retry_after``: seconds sent in a ``retry-after`` header with the error responses.
    """

    kind: str
    at: tuple[int, ...] = ()
    every: int | None = None
    probability: float | None = None
    after_chunks: int = 0
    delay: float = 0.0
    retry_after: float | None = None

    def selects(self, number: int, draw: float) -> bool:
        """Whether request ``number`` gets this fault; ``draw`` is this rule's uniform random draw."""
        if not self.at and self.every is None and self.probability is None:
            return True
        return (
            number in self.at
            or (self.every is not None and number % self.every == 0)
            or (self.probability is not None and draw < self.probability)
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "at": list(self.at),
            "every": self.every,
            "probability": self.probability,
            "after_chunks": self.after_chunks,
            "delay": self.delay,
            "retry_after": self.retry_after,
        }


def parse_fault(raw: object, source: str, field: str) -> FaultSpec:
    spec = as_mapping(raw, source, field)
    unknown = sorted(set(spec) - set(FaultSpec.__dataclass_fields__))
    if unknown:
        raise ConfigError(source, f"{field}.{unknown[0]}", "unknown fault field")
    kind = as_str(spec.get("kind"), source, f"{field}.kind")
    if kind not in FAULT_KINDS:
        raise ConfigError(source, f"{field}.kind", f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    numbers = as_list(spec.get("at", []), source, f"{field}.at")
    at = tuple(as_int(number, source, f"{field}.at", minimum=1) for number in numbers)
    every = spec.get("every")
    probability = spec.get("probability")
    retry_after = spec.get("retry_after")
    return FaultSpec(
        kind=kind,
        at=at,
        every=None if every is None else as_int(every, source, f"{field}.every", minimum=1),
        probability=None if probability is None else as_probability(probability, source, f"{field}.probability"),
        after_chunks=as_int(spec.get("after_chunks", 0), source, f"{field}.after_chunks"),
        delay=as_number(spec.get("delay", 0.0), source, f"{field}.delay"),
        retry_after=None if retry_after is None else as_number(retry_after, source, f"{field}.retry_after"),
    )


def parse_faults(raw: object, source: str, field: str = "faults") -> tuple[FaultSpec, ...]:
    items = as_list(raw, source, field)
    return tuple(parse_fault(item, source, f"{field}[{index}]") for index, item in enumerate(items))


class FaultInjector:
    """Numbers generation requests and picks the first fault rule that selects each one."""

    def __init__(self, faults: Sequence[FaultSpec], seed: int) -> None:
        self._seed = seed
        self._faults = tuple(faults)
        self._rng = random.Random(seed)
        self._count = 0

    @property
    def faults(self) -> tuple[FaultSpec, ...]:
        return self._faults

    def replace(self, faults: Sequence[FaultSpec]) -> None:
        """Install a new rule list; numbering restarts so ``at: [1]`` means the next request."""
        self._faults = tuple(faults)
        self.reset()

    def reset(self) -> None:
        self._rng = random.Random(self._seed)
        self._count = 0

    def next_request(self) -> tuple[int, FaultSpec | None]:
        """Number the arriving request and return the fault it gets, if any.

        Every rule draws once per request, whether or not an earlier rule matched, so adding a rule
        never shifts the random sequence seen by the rules before it.
        """
        self._count += 1
        chosen: FaultSpec | None = None
        for fault in self._faults:
            draw = self._rng.random()
            if chosen is None and fault.selects(self._count, draw):
                chosen = fault
        return self._count, chosen
