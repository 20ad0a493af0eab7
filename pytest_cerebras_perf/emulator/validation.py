"""Checks for user-supplied profile and fault values, with errors that say where a bad value came from.

Profiles arrive from YAML files, ``--set`` on the command line and the admin endpoint; a mistake in
any of them must produce one line naming the source and the field, not a traceback.
"""

from __future__ import annotations

import math


class ConfigError(ValueError):
    """A profile or fault value is invalid; ``str()`` is one line naming the source and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        """An empty ``field`` means the problem is with the source as a whole (unreadable, not YAML)."""
        super().__init__(f"{source}: field '{field}': {problem}" if field else f"{source}: {problem}")
        self.source = source
        self.field = field


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def as_number(value: object, source: str, field: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite number >= ``minimum`` (> when ``strict``); ints are accepted, booleans are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(source, field, f"expected a number, got {_describe(value)}")
    too_small = value <= minimum if strict else value < minimum
    if too_small:
        relation = ">" if strict else ">="
        raise ConfigError(source, field, f"expected a number {relation} {minimum:g}, got {value!r}")
    return float(value)


def as_probability(value: object, source: str, field: str) -> float:
    number = as_number(value, source, field)
    if number > 1.0:
        raise ConfigError(source, field, f"expected a probability between 0 and 1, got {value!r}")
    return number


def as_int(value: object, source: str, field: str, *, minimum: int = 0) -> int:
    """An integer >= ``minimum``; floats and booleans are rejected so that typos do not pass silently."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(source, field, f"expected an integer, got {_describe(value)}")
    if value < minimum:
        raise ConfigError(source, field, f"expected an integer >= {minimum}, got {value!r}")
    return value


def as_bool(value: object, source: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(source, field, f"expected true or false, got {_describe(value)}")
    return value


def as_str(value: object, source: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(source, field, f"expected a non-empty string, got {_describe(value)}")
    return value


def as_list(value: object, source: str, field: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(source, field, f"expected a list, got {_describe(value)}")
    return value


def as_mapping(value: object, source: str, field: str) -> dict[str, object]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigError(source, field, f"expected a mapping with string keys, got {_describe(value)}")
    return value
