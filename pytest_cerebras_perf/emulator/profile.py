"""Emulator profiles: the latency model, served models, rate limits and faults, loaded from YAML.

A profile is a built-in name (``profiles/<name>.yaml``) or a YAML file; a file may start from a
built-in with ``base: <name>`` and override any field. Command-line ``--set field=value`` and the
admin endpoint apply further overrides through the same validation, so every source of a bad value
is named in the error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .faults import FaultSpec, parse_faults
from .slowdowns import Slowdown, parse_slowdowns
from .validation import ConfigError, as_bool, as_int, as_list, as_mapping, as_number, as_probability, as_str
from .wire import DIALECTS, REASONING_EFFORTS, Dialect

PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_MODELS = ("llama-3.3-70b", "llama3.1-8b", "gpt-oss-120b", "qwen-3-32b")
UNLIMITED = 1_000_000_000
DEFAULT_PROFILE = "cerebras-gpt-oss-120b"
"""The profile the plugin's emulator and ``python -m pytest_cerebras_perf.emulator`` start with."""


def _models(value: object, source: str, name: str) -> tuple[str, ...]:
    models = tuple(as_str(model, source, name) for model in as_list(value, source, name))
    if not models:
        raise ConfigError(source, name, "expected at least one model id")
    return models


def _optional_rate(value: object, source: str, name: str) -> float | None:
    return None if value is None else as_number(value, source, name, strict=True)


def _rate(value: object, source: str, name: str) -> float:
    return as_number(value, source, name, strict=True)


def _count(value: object, source: str, name: str) -> int:
    return as_int(value, source, name, minimum=1)


def _seed(value: object, source: str, name: str) -> int:
    return as_int(value, source, name)


def _optional_seed(value: object, source: str, name: str) -> int | None:
    return None if value is None else as_int(value, source, name)


def _reasoning_tokens(value: object, source: str, name: str) -> dict[str, float]:
    """``reasoning_effort -> mean reasoning tokens``; an empty mapping is a model that does not reason."""
    efforts = as_mapping(value, source, name)
    for effort, mean in efforts.items():
        if effort not in REASONING_EFFORTS:
            raise ConfigError(source, f"{name}.{effort}", f"unknown effort; known: {', '.join(REASONING_EFFORTS)}")
        as_number(mean, source, f"{name}.{effort}")
    return {effort: float(mean) for effort, mean in efforts.items()}  # type: ignore[arg-type]


def _dialect(value: object, source: str, name: str) -> str:
    dialect = as_str(value, source, name)
    if dialect not in DIALECTS:
        raise ConfigError(source, name, f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    return dialect


def _optional_effort(value: object, source: str, name: str) -> str | None:
    return None if value is None else as_str(value, source, name)


T = TypeVar("T")
Parser = Callable[[object, str, str], object]
"""``parse(value, source, field_name)``: the value a profile field holds, or a :class:`ConfigError` naming both."""
_PARSE = "parse"
"""The key, in a profile field's metadata, of its :data:`Parser`."""


def _knob(default: T, parse: Parser) -> T:
    """A profile field: its default and, beside it, how a value from YAML, ``--set`` or the admin
    endpoint is validated."""
    return field(default=default, metadata={_PARSE: parse})


@dataclass(frozen=True)
class Profile:
    """Every knob of the emulator. Times are seconds, rates tokens/s (see the package docstring).

    Each field carries its validator (:func:`_knob`), so a knob's name, type, default and accepted
    values are written once, and a knob cannot be added without saying how a YAML value is checked.
    """

    name: str = _knob("default", as_str)
    models: tuple[str, ...] = _knob(DEFAULT_MODELS, _models)
    seed: int = _knob(0, _seed)
    queue_time: float = _knob(0.0001, as_number)
    queue_spike_probability: float = _knob(0.0, as_probability)
    queue_spike_min: float = _knob(0.016, as_number)
    queue_spike_max: float = _knob(0.020, as_number)
    server_overhead: float = _knob(0.0, as_number)
    ttft_base: float = _knob(0.0, as_number)
    prompt_tps: float = _knob(26_000.0, _rate)
    decode_tps: float = _knob(2_200.0, _rate)
    capacity_tps: float | None = _knob(None, _optional_rate)
    tokens_per_chunk: int = _knob(1, _count)
    jitter_sigma: float = _knob(0.0, as_number)
    default_output_tokens: int = _knob(100, _count)
    requests_per_minute: int = _knob(UNLIMITED, _count)
    requests_per_day: int = _knob(UNLIMITED, _count)
    tokens_per_minute: int = _knob(UNLIMITED, _count)
    tokens_per_day: int = _knob(UNLIMITED, _count)
    retry_after_header: bool = _knob(False, as_bool)
    behind_schedule_fraction: float = _knob(0.05, as_probability)
    behind_schedule_min: float = _knob(0.002, as_number)
    faults: tuple[FaultSpec, ...] = _knob((), parse_faults)
    drift_tau: float = _knob(0.0, as_number)
    drift_seed: int | None = _knob(None, _optional_seed)
    slowdowns: tuple[Slowdown, ...] = _knob((), parse_slowdowns)
    reasoning_tokens: Mapping[str, float] = field(default_factory=dict, metadata={_PARSE: _reasoning_tokens})
    default_reasoning_effort: str | None = _knob(None, _optional_effort)
    reasoning_sigma: float = _knob(0.0, as_number)
    retired: bool = _knob(False, as_bool)
    dialect: Dialect = _knob("cerebras", _dialect)  # wire.DIALECTS: whose streams the emulator imitates

    def updated(self, changes: Mapping[str, object], source: str) -> Profile:
        """A copy with ``changes`` applied; raises ConfigError naming ``source`` and the bad field."""
        values: dict[str, Any] = {
            name: _FIELD_PARSERS[name](value, source, name) for name, value in _known(changes, source)
        }
        profile = dataclasses.replace(self, **values)
        if profile.queue_spike_min > profile.queue_spike_max:
            raise ConfigError(source, "queue_spike_min", "must not exceed queue_spike_max")
        effort = profile.default_reasoning_effort
        if effort is not None and effort not in profile.reasoning_tokens:
            known = ", ".join(profile.reasoning_tokens) or "none configured"
            raise ConfigError(source, "default_reasoning_effort", f"{effort!r} is not in reasoning_tokens ({known})")
        return profile

    def to_dict(self) -> dict[str, object]:
        values = dataclasses.asdict(self)
        values["models"] = list(self.models)
        values["faults"] = [fault.to_dict() for fault in self.faults]
        values["slowdowns"] = [rule.to_dict() for rule in self.slowdowns]
        values["reasoning_tokens"] = dict(self.reasoning_tokens)
        return values


_FIELD_PARSERS: dict[str, Parser] = {knob.name: knob.metadata[_PARSE] for knob in dataclasses.fields(Profile)}


def _known(changes: Mapping[str, object], source: str) -> Iterable[tuple[str, object]]:
    for name, value in changes.items():
        if name not in _FIELD_PARSERS:
            raise ConfigError(source, name, f"unknown profile field; known: {', '.join(sorted(_FIELD_PARSERS))}")
        yield name, value


def builtin_names() -> list[str]:
    return sorted(path.stem for path in PROFILES_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, object]:
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(source, "", f"cannot read the file: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(source, "", "invalid YAML: " + " ".join(str(error).split())) from error
    if not isinstance(raw, (dict, type(None))):
        raise ConfigError(source, "", f"expected a mapping of profile fields, got {type(raw).__name__}")
    return as_mapping(raw or {}, source, "")


def load_profile(name_or_path: str, overrides: Mapping[str, object] | None = None) -> Profile:
    """Load a built-in profile by name or a YAML file (optionally ``base: <built-in>``), then ``overrides``."""
    if name_or_path in builtin_names():
        values = _read_yaml(PROFILES_DIR / f"{name_or_path}.yaml")
        source = name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            known = ", ".join(builtin_names())
            raise ConfigError(name_or_path, "", f"no such built-in profile ({known}) or file")
        values = {"name": path.stem, **_read_yaml(path)}
        source = str(path)
    base = values.pop("base", None)
    profile = Profile() if base is None else load_profile(as_str(base, source, "base"))
    if base is not None and "retired" not in values:
        values["retired"] = False  # a profile built on a retired one is not retired itself
    return profile.updated(values, source).updated(overrides or {}, "--set")


def parse_assignments(assignments: Iterable[str]) -> dict[str, object]:
    """``field=value`` strings from ``--set`` into a dict; values are YAML so numbers and lists work."""
    values: dict[str, object] = {}
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        if not separator or not name:
            raise ConfigError("--set", assignment, "expected field=value")
        try:
            values[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError("--set", name, "invalid value: " + " ".join(str(error).split())) from error
    return values
