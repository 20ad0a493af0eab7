"""Slowdown rules: make the requests of one scenario slower, leaving every other request alone.

A gate must fail the scenario that regressed and only that one, so the benchmarks and tests need a
regression that hits one prompt type: a rule matches requests whose prompt text contains ``match``
and multiplies their prompt phase by ``prompt`` and their decode time by ``decode`` (1.4 = 40 %
slower decoding). The first matching rule applies; the session drift applies on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .validation import ConfigError, as_list, as_mapping, as_number, as_str

_FIELDS = ("match", "prompt", "decode")


@dataclass(frozen=True)
class Slowdown:
    """Requests whose prompt contains ``match`` take ``prompt``× as long to process their prompt and
    ``decode``× as long to decode."""

    match: str
    prompt: float = 1.0
    decode: float = 1.0

    def to_dict(self) -> dict[str, object]:
        return {"match": self.match, "prompt": self.prompt, "decode": self.decode}


NO_SLOWDOWN = Slowdown(match="", prompt=1.0, decode=1.0)


def parse_slowdowns(value: object, source: str, field: str = "slowdowns") -> tuple[Slowdown, ...]:
    rules = []
    for index, raw in enumerate(as_list(value, source, field)):
        where = f"{field}[{index}]"
        rule = as_mapping(raw, source, where)
        unknown = sorted(set(rule) - set(_FIELDS))
        if unknown:
            raise ConfigError(source, f"{where}.{unknown[0]}", f"unknown slowdown field; known: {', '.join(_FIELDS)}")
        if "match" not in rule:
            raise ConfigError(source, f"{where}.match", "required: a piece of the prompt text to match")
        rules.append(
            Slowdown(
                match=as_str(rule["match"], source, f"{where}.match"),
                prompt=as_number(rule.get("prompt", 1.0), source, f"{where}.prompt", strict=True),
                decode=as_number(rule.get("decode", 1.0), source, f"{where}.decode", strict=True),
            )
        )
    return tuple(rules)


def slowdown_for(prompt_text: str, rules: Sequence[Slowdown]) -> Slowdown:
    """The first rule whose ``match`` is in the prompt, or no slowdown."""
    return next((rule for rule in rules if rule.match in prompt_text), NO_SLOWDOWN)
